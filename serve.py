"""The workbench's server: `streamlit run serve.py` (make run). It serves app.py behind the sign-in routes and the
gate of risk/web.py, so that a session survives a refresh in an HttpOnly cookie and never in the address."""

import streamlit as st
from starlette.middleware import Middleware

from risk import web

app = st.App("app.py", routes=web.ROUTES, middleware=[Middleware(web.SignInGate)])
