"""The bridge's header policy: scripts and styles only from the bridge itself (no inline script, no event-handler
attributes: the templates load /static/*.js), images also as data: URLs (VIN photos), no framing, no MIME sniffing,
no Referer leaving the bridge; HSTS over TLS. The middleware is edge.web_guard's, shared with the units' pages.
"""

BRIDGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
