"""The bridge's HTTP shell, one router per area; `cloud_bridge.app.create_app` assembles them.

`common` holds what every router shares: the permission table, the guards
(principal with role, CSRF) as FastAPI dependencies, the bounded input types
and page rendering. `security` holds the middleware (security headers, body
size cap). Business operations live in `cloud_bridge.service` and
`cloud_bridge.accounts`; routes only translate HTTP to them.
"""
