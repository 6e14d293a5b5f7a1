"""PicSource analysis worker: takes jobs from the MongoDB queue and analyses images on the CPU.

The package splits into pure analysis code (`pipeline/`, `models/`) and the thin I/O
around it (`runner`, `job`, `supervisor`, `health`), so every step can be tested on its
own and the process machinery can be tested against real services.
"""
