"""gepetto: reflective prompt evolution with Pareto selection (GEPA), offline-first."""

from gepetto.api import StopFlag, optimize
from gepetto.core.candidate import Candidate, CandidateRecord
from gepetto.core.config import Config, ReflectionConfig
from gepetto.core.result import ProposalRecord, Result
from gepetto.systems.adapter import ExampleResult, FunctionSystem, ModuleRecord, System

__all__ = [
    "Candidate",
    "CandidateRecord",
    "Config",
    "ExampleResult",
    "FunctionSystem",
    "ModuleRecord",
    "ProposalRecord",
    "ReflectionConfig",
    "Result",
    "StopFlag",
    "System",
    "optimize",
]
__version__ = "0.1.0"
