! Smooth replacements for min, max and steps, so that the tangent and adjoint codes have
! no kinks where the minimiser travels (conventions.md; BETHY's minx/maxx/errf idea).
module dnb_smooth
  use dnb_kinds, only: wp
  implicit none
  private
  public :: smin_pos, smax0, sstep, softplus

  real(wp), parameter :: tiny_disc = 1.e-300_wp

contains

  ! Smooth minimum of two non-negative numbers: smaller root of
  ! eta*x**2 - (a+b)*x + a*b = 0 (Collatz et al. 1991 co-limitation form).
  ! 0 <= result < min(a, b) for a, b >= 0; eta in (0, 1). Written without branches, in the
  ! stable form 2ab / (a + b + sqrt(D)) with D = (a-b)**2 + 4 (1-eta) a b (>= 0 for any
  ! signs); the tiny offset in D keeps 0/0 and the derivative of sqrt(0) out when both
  ! vanish, and is far below any physical scale of the model.
  function smin_pos(a, b, eta) result(r)
    real(wp), intent(in) :: a, b, eta
    real(wp) :: r
    r = 2._wp * a * b / (a + b + sqrt((a - b)**2 + 4._wp * (1._wp - eta) * a * b + tiny_disc))
  end function smin_pos

  ! Smooth max(x, 0) with transition width w (same unit as x): 0.5 (x + sqrt(x**2 + w**2)).
  ! Always > 0, equal to w/2 at x = 0, -> x for x >> w and -> 0 for x << -w.
  function smax0(x, w) result(r)
    real(wp), intent(in) :: x, w
    real(wp) :: r
    r = 0.5_wp * (x + sqrt(x * x + w * w))
  end function smax0

  ! Smooth step from 0 (x << 0) to 1 (x >> 0) with width w.
  function sstep(x, w) result(r)
    real(wp), intent(in) :: x, w
    real(wp) :: r
    r = 0.5_wp * (1._wp + tanh(x / w))
  end function sstep

  ! Softplus w * ln(1 + exp(x / w)): smooth max(x, 0) that is strictly positive.
  function softplus(x, w) result(r)
    real(wp), intent(in) :: x, w
    real(wp) :: r, z
    z = x / w
    if (z > 30._wp) then
      r = x
    else
      r = w * log(1._wp + exp(z))
    end if
  end function softplus

end module dnb_smooth
