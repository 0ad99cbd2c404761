"""The workbench's server: `streamlit run serve.py` (make run). It serves app.py behind the sign-in routes and the
gate of risk/web.py, so that a session survives a refresh in an HttpOnly cookie and never in the address. At start
it imports what the pages use and opens the database (risk/warm.py) before it listens, so the first person to
arrive does not wait for that."""

import asyncio
from contextlib import asynccontextmanager

import streamlit as st
from starlette.middleware import Middleware

from risk import web


@asynccontextmanager
async def lifespan(_app):
    from risk.warm import warm

    await asyncio.to_thread(warm)
    yield


app = st.App("app.py", routes=web.ROUTES, middleware=[Middleware(web.SignInGate)], lifespan=lifespan)
