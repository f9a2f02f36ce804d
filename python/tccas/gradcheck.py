"""Old import path of the gradient check; it lives in :mod:`tccas.da.gradcheck`."""
from .da.gradcheck import GradientCheck, central_difference, check_gradient, richardson

__all__ = ["GradientCheck", "central_difference", "check_gradient", "richardson"]
