"""The test suite, a package so that test modules import shared code as `tests.helpers`,
`tests.catalog`, `tests.browser_support` whichever tests pytest is asked to run."""
