"""What every page shares: the cached engine (keyed by URL) and small display helpers."""

from __future__ import annotations

import streamlit as st
from sqlalchemy import Engine

from risk import config


@st.cache_resource(show_spinner=False)
def _engine_for(url: str) -> Engine:
    from risk.db import get_engine
    from risk.services.setup import ensure_schema

    engine = get_engine(url)
    ensure_schema(engine)
    return engine


def engine() -> Engine:
    """The database engine, made and migrated once per process and URL."""
    return _engine_for(config.database_url())
