! The observation term of the TCCAS cost function, inside the differentiated path, so that
! its gradient comes from one taped pass (docs/assimilation.md, "One pass for J and its
! gradient"):
!
!   J_obs(x) = 1/2 sum_k ((y(idx(k)) - d(k)) / s(k))**2,   y = H(M(p(x)))
!
! over the assimilated observations k = 1..nk (several k may point to the same element of y;
! observations the model simulates but that are not assimilated have no k). cost_obs is the
! second root of the adjoint (adjoint/generate.sh): its reverse code cost_obs_b runs the
! taped forward sweep of dnb_control.forward once, seeds y_b = (y(idx) - d) / s**2 from the
! cost's adjoint seed j_b = 1 (obs_misfit_b) and runs the reverse sweep, where the
! forward/adjoint pair of dnb_api ran the model once more (forward_x) to get y.
! The observation error covariance is diagonal (s: total data uncertainty of each
! observation, > 0; dnb_api checks it).
module dnb_cost
  use dnb_kinds, only: wp
  use dnb_params, only: npp, ngp, nmet
  ! whole, not with an only list: the adjoint calls forward_fwd/_bwd, and Tapenade's only
  ! list would name forward_b, which it does not generate
  use dnb_control
  implicit none
  private
  public :: obs_misfit, cost_obs

contains

  ! J_obs = 1/2 sum_k ((y(idx(k)) - d(k)) / s(k))**2 from simulated observations y(nobs).
  ! The loop runs backwards so that its reverse sweep adds the seeds of observations that
  ! share an element of y in the order k = 1..nk, as numpy.add.at does in
  ! tccas.da.cost (the gradient is then the same to the last bit, not only to round-off).
  subroutine obs_misfit(nobs, y, nk, idx, d, s, j)
    integer, intent(in) :: nobs, nk
    integer, intent(in) :: idx(nk)
    real(wp), intent(in) :: y(nobs), d(nk), s(nk)
    real(wp), intent(out) :: j
    real(wp) :: r
    integer :: k
    j = 0._wp
    do k = nk, 1, -1
      r = (y(idx(k)) - d(k)) / s(k)
      j = j + 0.5_wp * (r * r)
    end do
  end subroutine obs_misfit

  ! J_obs(x) and the simulated observations y(nobs) of the same run: the control vector and
  ! the cell as for dnb_control.forward, then the nk assimilated observations (idx: their
  ! positions in y, 1-based; d: observed values; s: total data uncertainties).
  ! The call of forward is not checkpointed: the adjoint records the run in its forward
  ! sweep (within the memory budget tape_hours, see dnb_model.simulate) instead of running
  ! it once plainly and again for the reverse sweep.
  subroutine cost_obs(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, &
                      nspin, tape_hours, cosz, toa, tday, met, sand, clay, pft, ppft0, pglob0, &
                      nobs, stream, s0, s1, wfoot, angle, nk, idx, d, s, y, j)
    integer, intent(in) :: nx, nt, nd, ntile, nspin, tape_hours, nobs, nk
    integer, intent(in) :: ctl_kind(nx), ctl_index(nx), ctl_tile(nx)
    integer, intent(in) :: pft(ntile), stream(nobs), s0(nobs), s1(nobs), idx(nk)
    real(wp), intent(in) :: x(nx), prior(nx), sigma(nx)
    real(wp), intent(in) :: cosz(nt), toa(nt), tday(nt), met(nt, nmet), sand, clay
    real(wp), intent(in) :: ppft0(npp, ntile), pglob0(ngp), wfoot(nobs, ntile), angle(nobs)
    real(wp), intent(in) :: d(nk), s(nk)
    real(wp), intent(out) :: y(nobs), j
    !$AD NOCHECKPOINT
    call forward(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, nspin, &
                 tape_hours, cosz, toa, tday, met, sand, clay, pft, ppft0, pglob0, nobs, &
                 stream, s0, s1, wfoot, angle, y)
    call obs_misfit(nobs, y, nk, idx, d, s, j)
  end subroutine cost_obs

end module dnb_cost
