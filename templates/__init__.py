"""The card and cheat-sheet templates, installed as the package ``pipeline.templates``.

They stay at the top of the repository; ``pyproject.toml`` maps this folder into the
package, and ``pipeline/resources.py`` reads them through ``importlib.resources``. This
file makes the folder a regular package, which editable installs need to find it.
"""
