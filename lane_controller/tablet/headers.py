"""The tablet's header policy: the pages load only the lane's own script and style (no inline script or handler:
``static/app.js`` binds everything), may not be framed, and leak no address on links. The middleware is
edge.web_guard's, shared with the bridge and the exam car's page.
"""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
