// Postroom's only script besides htmx. Loaded from our origin: the CSP allows no inline script.
(function () {
  "use strict";
  // hx-boost swaps <body> only; keep <html lang> in step so screen readers speak the page's language.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var html = event.detail.xhr && event.detail.xhr.responseText;
    var match = html && /<html[^>]*\slang="([^"]+)"/.exec(html);
    if (match) {
      document.documentElement.lang = match[1];
    }
  });
})();
