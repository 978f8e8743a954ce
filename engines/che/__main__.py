from engines.che.engine import CheEngine
from framework import run

run(CheEngine)
