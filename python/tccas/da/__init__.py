"""Variational data assimilation (TCCAS): control vector, the model map with its tangent and
adjoint, cost and gradient, the L-BFGS-B driver with checkpoints, the Gauss-Newton
posterior, target quantities, the gradient check and the ``assimilate`` workflow.

``tccas.control`` and ``tccas.model.CellModel`` keep their places; they are re-exported
here.
"""
from ..control import ControlVector, build_control
from ..model import CellModel
from .cost import CostFunction, CostValue
from .gradcheck import GradientCheck, check_gradient
from .minimise import Interrupted, MinimiseResult, minimise, projected_gradient_norm, \
    read_checkpoint
from .options import PRIOR_MODEL_ERROR, AssimilationPlan, plan_assimilation, prior_model_error, \
    resolve_model_error, total_sigma, window_bounds
from .posterior import Posterior, default_workers, gauss_newton_hessian, jacobian, posterior, \
    propagate
from .targets import LAMBDA_ET, Targets, target_observations
from .workflow import AssimilationResult, assimilate, write_assimilation_nc

__all__ = [
    "AssimilationPlan", "AssimilationResult", "CellModel", "ControlVector", "CostFunction",
    "CostValue", "GradientCheck", "Interrupted", "LAMBDA_ET", "MinimiseResult", "Posterior",
    "PRIOR_MODEL_ERROR", "Targets", "assimilate", "build_control", "check_gradient", "default_workers",
    "gauss_newton_hessian", "jacobian", "minimise", "plan_assimilation", "posterior",
    "prior_model_error", "projected_gradient_norm", "propagate", "read_checkpoint",
    "resolve_model_error", "target_observations",
    "total_sigma", "window_bounds", "write_assimilation_nc",
]
