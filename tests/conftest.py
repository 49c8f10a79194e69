import os
import sys

# The helpers in tests/_support.py are imported by name from every test module.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
