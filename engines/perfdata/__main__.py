from engines.perfdata.engine import PerfdataEngine
from framework import run

run(PerfdataEngine)
