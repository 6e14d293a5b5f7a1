"""``python -m picsource_web.importer import PATH… --url URL``: the same as ``picsource``."""

from picsource_web.importer.cli import main

main()
