from engines.action.engine import ActionEngine
from framework import run

run(ActionEngine)
