"""snf.viewer: the browser viewer, a second decoder written in JavaScript.

Shipped as package data; the server mounts this folder at /static. Its tests
are tests/test_browser.py (the page in Chromium) and tests/viewer/ (Node).
"""
import os

STATIC_DIR = os.path.dirname(os.path.abspath(__file__))
