"""The simulated LLM serving engine: one replica's digital twin behind an OpenAI-compatible API.

Public API:

- :class:`SimEngineConfig` - everything one replica needs (GPU/model facts, plan, engine options,
  calibrated efficiencies, ``time_scale``, ``tokens_per_event``, ``seed``);
- :func:`preset_config` - a config from a name such as ``h100-llama8b``;
- :func:`step_time` / :class:`StepShape` - the pure roofline step model;
- launch: ``python -m benchmatrix.sim --config FILE.json --host 127.0.0.1 --port P``
  (prints ``listening on http://HOST:PORT``; exit 3 when the port is taken).

See docs/simulator.md for the endpoints, the sim's tokenizer rule and the ground-truth format.
"""

from benchmatrix.sim.config import SimEngineConfig
from benchmatrix.sim.model import StepShape, StepTime, step_time
from benchmatrix.sim.presets import preset_config, preset_names

__all__ = ["SimEngineConfig", "StepShape", "StepTime", "preset_config", "preset_names", "step_time"]
