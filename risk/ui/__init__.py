"""The Streamlit pages: the only place besides app.py that imports streamlit."""
