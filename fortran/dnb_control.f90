! The control vector of TCCAS and the one routine that maps it to all simulated
! observations, y = H(M(p(x))): the root that Tapenade differentiates (adjoint/generate.sh).
! Control elements are parameters of the table (per PFT tile or global), initial carbon pools
! and initial soil water included (they are parameters c_*0 and sw_init), in units of their
! prior sigma: p = p_prior + sigma x, so x = 0 is the prior (science.md section 7b).
module dnb_control
  use dnb_kinds, only: wp
  use dnb_params, only: npp, ngp, nho, ndo, nstate, nmet
  ! whole, not with an only list: the adjoint calls simulate_obs_fwd/_bwd (forward's call is
  ! not checkpointed), and Tapenade's only list would name simulate_obs_b, which it does not
  ! generate
  use dnb_model
  use dnb_obs, only: obs_layout, nobscol
  implicit none
  private
  public :: params_from_x, forward

  integer, parameter, public :: ctl_pft = 1, ctl_global = 2

contains

  ! Physical parameters from the control vector. For element k: kind ctl_kind(k) (ctl_pft:
  ! ppft(ctl_index(k), ctl_tile(k)); ctl_global: pglob(ctl_index(k))) = prior(k) + sigma(k) x(k).
  ! Parameters not in the control vector keep their values in ppft0, pglob0.
  subroutine params_from_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, ntile, ppft0, &
                           pglob0, ppft, pglob)
    integer, intent(in) :: nx, ntile
    integer, intent(in) :: ctl_kind(nx), ctl_index(nx), ctl_tile(nx)
    real(wp), intent(in) :: x(nx), prior(nx), sigma(nx), ppft0(npp, ntile), pglob0(ngp)
    real(wp), intent(out) :: ppft(npp, ntile), pglob(ngp)
    integer :: k
    ppft = ppft0
    pglob = pglob0
    do k = 1, nx
      if (ctl_kind(k) == ctl_pft) then
        ppft(ctl_index(k), ctl_tile(k)) = prior(k) + sigma(k) * x(k)
      else
        pglob(ctl_index(k)) = prior(k) + sigma(k) * x(k)
      end if
    end do
  end subroutine params_from_x

  ! y(nobs) = H(M(p(x))) for one cell: parameters from x, initialisation and nspin spin-up
  ! hours, the hourly run and the observation operators. Arguments after the control
  ! description as in dnb_model.simulate_obs (tape_hours: the adjoint's memory budget).
  subroutine forward(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, nspin, &
                     tape_hours, cosz, toa, tday, met, sand, clay, pft, ppft0, &
                     pglob0, nobs, stream, s0, s1, wfoot, angle, y)
    integer, intent(in) :: nx, nt, nd, ntile, nspin, tape_hours, nobs
    integer, intent(in) :: ctl_kind(nx), ctl_index(nx), ctl_tile(nx)
    integer, intent(in) :: pft(ntile), stream(nobs), s0(nobs), s1(nobs)
    real(wp), intent(in) :: x(nx), prior(nx), sigma(nx)
    real(wp), intent(in) :: cosz(nt), toa(nt), tday(nt), met(nt, nmet), sand, clay
    real(wp), intent(in) :: ppft0(npp, ntile), pglob0(ngp), wfoot(nobs, ntile), angle(nobs)
    real(wp), intent(out) :: y(nobs)
    real(wp) :: ppft(npp, ntile), pglob(ngp), state(nstate, ntile)
    real(wp) :: hout(nobscol, nt, ntile), dout(ndo, nd, ntile)
    integer :: colpos(nho)
    call params_from_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, ntile, ppft0, &
                       pglob0, ppft, pglob)
    state = 0._wp
    call obs_layout(colpos)
    ! not checkpointed: called from dnb_cost.cost_obs, whose adjoint records this run once
    ! (the forward/backward split of simulate_obs) instead of running it plainly first
    !$AD NOCHECKPOINT
    call simulate_obs(nt, nd, ntile, nspin, tape_hours, 1, cosz, toa, tday, met, &
                      sand, clay, pft, ppft, pglob, state, nobs, stream, s0, s1, wfoot, angle, nobscol, &
                      colpos, hout, dout, y)
  end subroutine forward

end module dnb_control
