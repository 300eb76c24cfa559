"""gepetto: reflective prompt evolution with Pareto selection (GEPA), offline-first."""

from gepetto.api import StopFlag, optimize
from gepetto.core.candidate import Candidate, CandidateRecord
from gepetto.core.config import Config, ReflectionConfig
from gepetto.core.planning import BudgetPlan, plan_budget
from gepetto.core.result import ProposalRecord, Result
from gepetto.systems.adapter import ExampleResult, FunctionSystem, ModuleRecord, System
from gepetto.systems.metrics import MetricResult
from gepetto.systems.program import Module, Prediction, ProgramSystem
from gepetto.systems.prompt_system import PromptSystem

__all__ = [
    "BudgetPlan",
    "plan_budget",
    "Candidate",
    "CandidateRecord",
    "Config",
    "ExampleResult",
    "MetricResult",
    "Module",
    "Prediction",
    "ProgramSystem",
    "PromptSystem",
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
