from engines.axe.engine import AxeEngine
from framework import run

run(AxeEngine)
