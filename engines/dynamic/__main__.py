from engines.dynamic.engine import DynamicEngine
from framework import run

run(DynamicEngine)
