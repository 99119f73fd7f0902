"""Browser tests: headless Chromium (Debian's) driven by Playwright, pages checked with axe-core."""
