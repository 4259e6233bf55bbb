"""The test tree is a package, so its folders (tests/load, tests/reference_server) import as
`tests.load`, ... and never shadow the product packages `load` and `reference_server`."""
