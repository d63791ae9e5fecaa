pytest_plugins = ["tests.fixtures.oauth", "tests.fixtures.mailstack"]
