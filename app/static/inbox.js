// Keyboard shortcuts of the agent inbox (our origin only: the CSP allows no inline script).
//   List:   j / k  next / previous ticket (focus moves to its link), o or Enter opens it, / focuses the search.
//   Ticket: r  write a reply, n  write a note, u  back to the list, Ctrl+Enter (or Cmd+Enter) sends the focused form.
// Keys typed into a field are the field's, except Ctrl+Enter; Escape leaves a field.
(function () {
  "use strict";

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function ticketLinks() {  // the first link of each row opens its ticket
    return Array.prototype.map.call(document.querySelectorAll("tr.ticket-row"), function (row) {
      return row.querySelector("a[href]");
    }).filter(Boolean);
  }

  function move(step) {
    var links = ticketLinks();
    if (!links.length) { return false; }
    var index = links.indexOf(document.activeElement);
    var next = index < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(Math.max(index + step, 0), links.length - 1);
    links.forEach(function (link) { link.closest("tr").classList.remove("is-current"); });
    links[next].closest("tr").classList.add("is-current");
    links[next].focus();
    return true;
  }

  function focus(selector) {
    var element = document.querySelector(selector);
    if (!element) { return false; }
    element.scrollIntoView({block: "center"});
    element.focus();
    return true;
  }

  function submitFocusedForm(target) {
    var form = target && target.form;
    if (!form) { return false; }
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    return true;
  }

  var keys = {
    "j": function () { return move(1); },
    "k": function () { return move(-1); },
    "o": function () { var a = document.activeElement; if (a && a.closest("tr.ticket-row")) { a.click(); return true; } return false; },
    "/": function () { return focus("#q"); },
    "r": function () { return focus("#reply-body"); },
    "n": function () { return focus("#note-body"); },
    "u": function () { return focus("#back-to-inbox") && (document.activeElement.click(), true); }
  };

  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (submitFocusedForm(event.target)) { event.preventDefault(); }
      return;
    }
    if (event.key === "Escape" && typing(event.target)) {
      event.target.blur();
      return;
    }
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var action = keys[event.key];
    if (action && action()) { event.preventDefault(); }
  });

  // A collision prompt takes the focus, so a screen reader reads what changed before anything else.
  function focusCollision(event) {
    var panel = document.getElementById("collision");
    var swapped = event.detail && event.detail.elt;
    if (panel && (!swapped || swapped.contains(panel))) { panel.focus(); }  // not on the polls' small swaps
  }
  document.addEventListener("DOMContentLoaded", focusCollision);
  document.addEventListener("htmx:afterSettle", focusCollision);
})();
