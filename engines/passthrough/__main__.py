from engines.passthrough.engine import PassthroughEngine
from framework import run

run(PassthroughEngine)
