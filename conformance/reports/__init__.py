"""Report writers: results.json (the versioned source of truth), junit.xml, report.html, the
requirement matrix, and the multi-target comparison. All of them read the `RunResult` model."""
