! The flat interface of the D&B core: the only module f2py wraps. Scalars and explicit-shape
! arrays, an integer status instead of stops, no derived types or module variables.
!
! status codes (turned into exceptions by tccas.model):
!   0 ok; 1 nt is not a positive multiple of 24 or nd /= nt/24; 2 a PFT code outside 1..13;
!   3 a non-finite forcing value; 4 a non-finite parameter or state value;
!   5 the model produced a non-finite output; 6 an observation has an unknown stream code,
!   a window outside the run or a negative footprint weight; 7 out of memory (the adjoint
!   stack, or the solar samples of dnb_solar);
!   8 a control element points outside the parameter arrays; 9 an observed value or its
!   uncertainty (cost_grad_x) is not finite, or an uncertainty is not positive; 10 an
!   assimilated observation points outside y (cost_grad_x)
module dnb_api
  use dnb_kinds, only: wp
  use dnb_params, only: npp, ngp, nho, ndo, nstate, nmet
  use dnb_model, only: simulate, simulate_obs, init_state, pathway_constants
  use dnb_obs, only: apply_obs, mironov_permittivity, fresnel_reflectivity, tau_omega, &
                     water_cloud
  use dnb_params, only: nstream
  use dnb_control, only: forward
  use dnb_control_tl, only: forward_d
  use dnb_control_ad, only: forward_fwd, forward_bwd
  use dnb_cost, only: obs_misfit
  use dnb_cost_ad, only: cost_obs_b
  use dnb_adstack, only: adstack_reset, adstack_release, adstack_peak_bytes, adstack_error, &
                         adstack_used_bytes
  use dnb_hydrology, only: soil_hydraulics, nsh
  use dnb_solar, only: solar_geometry
  use dnb_params, only: ig_kc25, ig_ko25, ig_e_kc, ig_e_ko, ig_e_vcmax, ig_e_rd, ig_e_k4, &
                        ig_a_gamma, ig_k4_ratio
  use dnb_photosynthesis, only: leaf_rates, photo_fixed_ci, photo_given_gs, fluorescence_yield
  implicit none
  private
  public :: sizes, run_cell, run_cell_obs, obs_operator, initial_state, leaf_assimilation, &
            lband_emission, forward_x, tangent_x, adjoint_x, cost_grad_x, stack_selftest, &
            stack_release, &
            psii_fluorescence, cband_backscatter

  ! the memory budget (tile-hours, dnb_model.simulate) of runs that record no adjoint tape:
  ! unlimited, so they run each range in one piece
  integer, parameter :: no_budget = huge(0)

contains

  ! Array sizes compiled into the core, so that Python can check them against its table.
  subroutine sizes(n_pft_par, n_glob_par, n_hourly, n_daily, n_state, n_met)
    integer, intent(out) :: n_pft_par, n_glob_par, n_hourly, n_daily, n_state, n_met
    n_pft_par = npp
    n_glob_par = ngp
    n_hourly = nho
    n_daily = ndo
    n_state = nstate
    n_met = nmet
  end subroutine sizes

  ! Forward run of one cell (see dnb_model.simulate for the arguments). The outputs keep the
  ! core's layout, variable first: hout(nho, nt, ntile), dout(ndo, nd, ntile).
  subroutine run_cell(nt, nd, ntile, nspin, init, doy, hour, tday, met, lat, lon, sand, clay, &
                      pft, ppft, pglob, state, hout, dout, status)
    ! f2py releases the GIL during the call (Python threads go on reading and writing files);
    ! tccas.model serialises the calls, since local arrays may be static storage
    !f2py threadsafe
    integer, intent(in) :: nt, nd, ntile, nspin, init
    integer, intent(in) :: doy(nt), pft(ntile)
    real(wp), intent(in) :: hour(nt), tday(nt), met(nt, nmet), lat, lon, sand, clay
    real(wp), intent(in) :: ppft(npp, ntile), pglob(ngp)
    real(wp), intent(inout) :: state(nstate, ntile)
    real(wp), intent(out) :: hout(nho, nt, ntile), dout(ndo, nd, ntile)
    integer, intent(out) :: status
    real(wp), allocatable :: cosz(:), toa(:)
    status = 0
    if (nt <= 0 .or. mod(nt, 24) /= 0 .or. nd /= nt / 24) then
      status = 1
    else if (any(pft < 1) .or. any(pft > 13)) then
      status = 2
    else if (.not. all_finite(met, nt * nmet)) then
      status = 3
    else if (.not. all_finite(ppft, npp * ntile) .or. .not. all_finite(pglob, ngp)) then
      status = 4
    else if (init == 0 .and. .not. all_finite(state, nstate * ntile)) then
      status = 4
    end if
    if (status /= 0) then
      hout = 0._wp
      dout = 0._wp
      return
    end if
    allocate(cosz(nt), toa(nt))
    call solar_geometry(nt, doy, hour, lat, lon, cosz, toa, status)
    if (status /= 0) then
      hout = 0._wp
      dout = 0._wp
      return
    end if
    ! simulate sets every element of hout and dout
    call simulate(nt, nd, ntile, nspin, no_budget, init, cosz, toa, tday, met, sand, clay, &
                  pft, ppft, pglob, nho, all_columns(), state, hout, dout)
    if (.not. all_finite(hout, nt * nho * ntile) .or. .not. all_finite(dout, nd * ndo * ntile) &
        .or. .not. all_finite(state, nstate * ntile)) status = 5
  end subroutine run_cell


  ! Forward run of one cell with its observation operators (dnb_model.simulate_obs):
  ! also returns y(nobs), the simulated observations.
  subroutine run_cell_obs(nt, nd, ntile, nspin, init, doy, hour, tday, met, lat, lon, sand, &
                          clay, pft, ppft, pglob, state, nobs, stream, s0, s1, wfoot, angle, &
                          hout, dout, y, status)
    integer, intent(in) :: nt, nd, ntile, nspin, init, nobs
    integer, intent(in) :: doy(nt), pft(ntile), stream(nobs), s0(nobs), s1(nobs)
    real(wp), intent(in) :: hour(nt), tday(nt), met(nt, nmet), lat, lon, sand, clay
    real(wp), intent(in) :: ppft(npp, ntile), pglob(ngp), wfoot(nobs, ntile), angle(nobs)
    real(wp), intent(inout) :: state(nstate, ntile)
    real(wp), intent(out) :: hout(nho, nt, ntile), dout(ndo, nd, ntile), y(nobs)
    integer, intent(out) :: status
    y = 0._wp
    call run_cell(nt, nd, ntile, nspin, init, doy, hour, tday, met, lat, lon, sand, clay, &
                  pft, ppft, pglob, state, hout, dout, status)
    if (status /= 0) return
    status = check_obs(nt, ntile, nobs, stream, s0, s1, wfoot)
    if (status /= 0) return
    call apply_obs(nt, ntile, nobs, stream, s0, s1, wfoot, angle, nho, all_columns(), hout, &
                   clay, pglob, y)
    if (.not. all_finite(y, nobs)) status = 5
  end subroutine run_cell_obs

  ! y = H(M(p(x))): the control vector x (in units of prior sigma, dnb_control) to all
  ! simulated observations, with spin-up, in one call. Same arguments as dnb_control.forward.
  subroutine forward_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, nspin, &
                       doy, hour, tday, met, lat, lon, sand, clay, pft, ppft0, pglob0, nobs, &
                       stream, s0, s1, wfoot, angle, y, status)
    integer, intent(in) :: nx, nt, nd, ntile, nspin, nobs
    integer, intent(in) :: ctl_kind(nx), ctl_index(nx), ctl_tile(nx)
    integer, intent(in) :: doy(nt), pft(ntile), stream(nobs), s0(nobs), s1(nobs)
    real(wp), intent(in) :: x(nx), prior(nx), sigma(nx)
    real(wp), intent(in) :: hour(nt), tday(nt), met(nt, nmet), lat, lon, sand, clay
    real(wp), intent(in) :: ppft0(npp, ntile), pglob0(ngp), wfoot(nobs, ntile), angle(nobs)
    real(wp), intent(out) :: y(nobs)
    integer, intent(out) :: status
    real(wp), allocatable :: cosz(:), toa(:)
    y = 0._wp
    status = check_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, pft, &
                     met, ppft0, pglob0, nobs, stream, s0, s1, wfoot)
    if (status /= 0) return
    allocate(cosz(nt), toa(nt))
    call solar_geometry(nt, doy, hour, lat, lon, cosz, toa, status)
    if (status /= 0) return
    call forward(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, nspin, &
                 no_budget, cosz, toa, tday, met, sand, clay, pft, ppft0, pglob0, nobs, stream, &
                 s0, s1, wfoot, angle, y)
    if (.not. all_finite(y, nobs)) status = 5
  end subroutine forward_x

  ! Tangent linear model (Tapenade, adjoint/generated/dnb_tl.f90): dy = J dx at x, with y.
  subroutine tangent_x(nx, x, dx, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, &
                       nspin, doy, hour, tday, met, lat, lon, sand, clay, pft, ppft0, pglob0, &
                       nobs, stream, s0, s1, wfoot, angle, y, dy, status)
    integer, intent(in) :: nx, nt, nd, ntile, nspin, nobs
    integer, intent(in) :: ctl_kind(nx), ctl_index(nx), ctl_tile(nx)
    integer, intent(in) :: doy(nt), pft(ntile), stream(nobs), s0(nobs), s1(nobs)
    real(wp), intent(in) :: x(nx), dx(nx), prior(nx), sigma(nx)
    real(wp), intent(in) :: hour(nt), tday(nt), met(nt, nmet), lat, lon, sand, clay
    real(wp), intent(in) :: ppft0(npp, ntile), pglob0(ngp), wfoot(nobs, ntile), angle(nobs)
    real(wp), intent(out) :: y(nobs), dy(nobs)
    integer, intent(out) :: status
    real(wp), allocatable :: cosz(:), toa(:)
    y = 0._wp
    dy = 0._wp
    status = check_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, pft, &
                     met, ppft0, pglob0, nobs, stream, s0, s1, wfoot)
    if (status /= 0) return
    if (.not. all_finite(dx, nx)) then
      status = 4
      return
    end if
    allocate(cosz(nt), toa(nt))
    call solar_geometry(nt, doy, hour, lat, lon, cosz, toa, status)
    if (status /= 0) return
    call forward_d(nx, x, dx, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, &
                   nspin, no_budget, cosz, toa, tday, met, sand, clay, pft, ppft0, pglob0, nobs, &
                   stream, s0, s1, wfoot, angle, y, dy)
    if (.not. all_finite(y, nobs) .or. .not. all_finite(dy, nobs)) status = 5
  end subroutine tangent_x

  ! Adjoint model (Tapenade, adjoint/generated/dnb_ad.f90): dx = J^T dy at x. Also returns
  ! the peak size of the adjoint stack in bytes. tape_hours: the memory budget in tile-hours
  ! (dnb_model.simulate): a longer run is re-run in yearly checkpointed blocks.
  subroutine adjoint_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, &
                       nspin, tape_hours, doy, hour, tday, met, lat, lon, sand, clay, pft, &
                       ppft0, pglob0, nobs, stream, s0, s1, wfoot, angle, dy, dx, stack_bytes, &
                       status)
    integer, intent(in) :: nx, nt, nd, ntile, nspin, tape_hours, nobs
    integer, intent(in) :: ctl_kind(nx), ctl_index(nx), ctl_tile(nx)
    integer, intent(in) :: doy(nt), pft(ntile), stream(nobs), s0(nobs), s1(nobs)
    real(wp), intent(in) :: x(nx), prior(nx), sigma(nx), dy(nobs)
    real(wp), intent(in) :: hour(nt), tday(nt), met(nt, nmet), lat, lon, sand, clay
    real(wp), intent(in) :: ppft0(npp, ntile), pglob0(ngp), wfoot(nobs, ntile), angle(nobs)
    real(wp), intent(out) :: dx(nx)
    real(wp), intent(out) :: stack_bytes
    integer, intent(out) :: status
    real(wp) :: y(nobs), y_b(nobs)
    real(wp), allocatable :: cosz(:), toa(:)
    integer(8) :: peak
    integer :: ierr
    dx = 0._wp
    stack_bytes = 0._wp
    status = check_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, pft, &
                     met, ppft0, pglob0, nobs, stream, s0, s1, wfoot)
    if (status /= 0) return
    if (.not. all_finite(dy, nobs)) then
      status = 4
      return
    end if
    allocate(cosz(nt), toa(nt))
    call solar_geometry(nt, doy, hour, lat, lon, cosz, toa, status)
    if (status /= 0) return
    y_b = dy
    call adstack_reset()
    ! the adjoint of forward comes in two sweeps (dnb_cost.cost_obs calls forward without a
    ! checkpoint, so Tapenade writes forward_fwd and forward_bwd instead of a joint
    ! forward_b): the taped run, then the reverse sweep
    call forward_fwd(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, nspin, &
                     tape_hours, cosz, toa, tday, met, sand, clay, pft, ppft0, pglob0, nobs, &
                     stream, s0, s1, wfoot, angle, y)
    call forward_bwd(nx, x, dx, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, &
                     nspin, tape_hours, cosz, toa, tday, met, sand, clay, pft, ppft0, pglob0, &
                     nobs, stream, s0, s1, wfoot, angle, y, y_b)
    call adstack_peak_bytes(peak)
    stack_bytes = real(peak, wp)
    call adstack_error(ierr)
    if (ierr /= 0) then
      status = 7
      return
    end if
    if (.not. all_finite(dx, nx)) status = 5
  end subroutine adjoint_x

  ! The observation term of the cost, the simulated observations and the term's gradient in
  ! one taped pass (Tapenade reverse of dnb_cost.cost_obs with the seed 1 on J_obs):
  !   j = J_obs = 1/2 sum_k ((y(idx(k)) - d(k)) / s(k))**2 over the nk assimilated
  !   observations (idx(k): position in y, 1-based; d: observed values; s: total data
  !   uncertainties, > 0), y(nobs) the simulated observations of that same run (equal to
  !   forward_x's: the reverse sweep does not write y), dx = dJ_obs/dx (equal to adjoint_x
  !   with dy = (y - d) / s**2 at the positions idx, summed where several k share one).
  ! Other arguments and stack_bytes as for adjoint_x. Where forward_x and adjoint_x run the
  ! model twice (once plainly for y, once taped), this runs it once.
  subroutine cost_grad_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, &
                         nspin, tape_hours, doy, hour, tday, met, lat, lon, sand, clay, pft, &
                         ppft0, pglob0, nobs, stream, s0, s1, wfoot, angle, nk, idx, d, s, j, &
                         y, dx, stack_bytes, status)
    integer, intent(in) :: nx, nt, nd, ntile, nspin, tape_hours, nobs, nk
    integer, intent(in) :: ctl_kind(nx), ctl_index(nx), ctl_tile(nx)
    integer, intent(in) :: doy(nt), pft(ntile), stream(nobs), s0(nobs), s1(nobs), idx(nk)
    real(wp), intent(in) :: x(nx), prior(nx), sigma(nx)
    real(wp), intent(in) :: hour(nt), tday(nt), met(nt, nmet), lat, lon, sand, clay
    real(wp), intent(in) :: ppft0(npp, ntile), pglob0(ngp), wfoot(nobs, ntile), angle(nobs)
    real(wp), intent(in) :: d(nk), s(nk)
    real(wp), intent(out) :: j, y(nobs), dx(nx)
    real(wp), intent(out) :: stack_bytes
    integer, intent(out) :: status
    real(wp) :: y_b(nobs), j_b, j_rev
    real(wp), allocatable :: cosz(:), toa(:)
    integer(8) :: peak
    integer :: ierr
    j = 0._wp
    y = 0._wp
    dx = 0._wp
    stack_bytes = 0._wp
    status = check_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, pft, &
                     met, ppft0, pglob0, nobs, stream, s0, s1, wfoot)
    if (status /= 0) return
    if (.not. all_finite(d, nk) .or. .not. all_finite(s, nk)) then
      status = 9
      return
    end if
    if (nk > 0) then
      if (any(.not. (s > 0._wp))) then
        status = 9
        return
      end if
      if (any(idx < 1) .or. any(idx > nobs)) then
        status = 10
        return
      end if
    end if
    allocate(cosz(nt), toa(nt))
    call solar_geometry(nt, doy, hour, lat, lon, cosz, toa, status)
    if (status /= 0) return
    j_b = 1._wp
    j_rev = 0._wp
    call adstack_reset()
    call cost_obs_b(nx, x, dx, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, &
                    nspin, tape_hours, cosz, toa, tday, met, sand, clay, pft, ppft0, pglob0, &
                    nobs, stream, s0, s1, wfoot, angle, nk, idx, d, s, y, y_b, j_rev, j_b)
    call adstack_peak_bytes(peak)
    stack_bytes = real(peak, wp)
    call adstack_error(ierr)
    if (ierr /= 0) then
      y = 0._wp
      dx = 0._wp
      status = 7
      return
    end if
    ! the reverse code leaves out the primal statements whose results no derivative needs,
    ! J_obs's own sum among them (j_rev is not set): the same routine on the same y
    call obs_misfit(nobs, y, nk, idx, d, s, j)
    if (.not. all_finite(y, nobs) .or. .not. all_finite(dx, nx) .or. &
        .not. all_finite([j], 1)) status = 5
  end subroutine cost_grad_x

  ! Free the adjoint stack's memory (it is otherwise kept for the next adjoint run).
  subroutine stack_release()
    call adstack_release()
  end subroutine stack_release

  ! Exercise the adjoint stack (adjoint/dnb_adstack.f90) as the generated code does: push
  ! x(k), ivals(k) and the branch number cvals(k) for k = 1..n, then the whole array x,
  ! pop everything back in reverse order. Returns what came back, the peak and the payload
  ! left (bytes), and the error state after popping once more from the emptied stack.
  subroutine stack_selftest(n, x, ivals, cvals, xback, xarr_back, iback, cback, peak_bytes, &
                            used_after, err_extra_pop)
    integer, intent(in) :: n
    real(wp), intent(in) :: x(n)
    integer, intent(in) :: ivals(n), cvals(n)
    real(wp), intent(out) :: xback(n), xarr_back(n)
    integer, intent(out) :: iback(n), cback(n)
    real(wp), intent(out) :: peak_bytes, used_after
    integer, intent(out) :: err_extra_pop
    external :: pushreal8, popreal8, pushreal8array, popreal8array, pushinteger4, &
                popinteger4, pushcontrol2b, popcontrol2b
    integer(8) :: nb
    integer :: k
    real(wp) :: extra
    call adstack_reset()
    do k = 1, n
      call pushreal8(x(k))
      call pushinteger4(ivals(k))
      call pushcontrol2b(cvals(k))
    end do
    call pushreal8array(x, n)
    call popreal8array(xarr_back, n)
    do k = n, 1, -1
      call popcontrol2b(cback(k))
      call popinteger4(iback(k))
      call popreal8(xback(k))
    end do
    call adstack_peak_bytes(nb)
    peak_bytes = real(nb, wp)
    call adstack_used_bytes(nb)
    used_after = real(nb, wp)
    call popreal8(extra)
    call adstack_error(err_extra_pop)
    call adstack_reset()
  end subroutine stack_selftest

  ! Checks shared by forward_x, tangent_x and adjoint_x.
  integer function check_x(nx, x, ctl_kind, ctl_index, ctl_tile, prior, sigma, nt, nd, ntile, &
                           pft, met, ppft0, pglob0, nobs, stream, s0, s1, wfoot)
    integer, intent(in) :: nx, nt, nd, ntile, nobs
    integer, intent(in) :: ctl_kind(nx), ctl_index(nx), ctl_tile(nx), pft(ntile)
    integer, intent(in) :: stream(nobs), s0(nobs), s1(nobs)
    real(wp), intent(in) :: x(nx), prior(nx), sigma(nx), met(nt, nmet), ppft0(npp, ntile)
    real(wp), intent(in) :: pglob0(ngp), wfoot(nobs, ntile)
    integer :: k
    check_x = 0
    if (nt <= 0 .or. mod(nt, 24) /= 0 .or. nd /= nt / 24) then
      check_x = 1
    else if (any(pft < 1) .or. any(pft > 13)) then
      check_x = 2
    else if (.not. all_finite(met, nt * nmet)) then
      check_x = 3
    else if (.not. all_finite(x, nx) .or. .not. all_finite(prior, nx) .or. &
             .not. all_finite(sigma, nx) .or. .not. all_finite(ppft0, npp * ntile) .or. &
             .not. all_finite(pglob0, ngp)) then
      check_x = 4
    else
      check_x = check_obs(nt, ntile, nobs, stream, s0, s1, wfoot)
    end if
    if (check_x /= 0) return
    do k = 1, nx
      if (ctl_kind(k) == 1) then
        if (ctl_index(k) < 1 .or. ctl_index(k) > npp .or. ctl_tile(k) < 1 &
            .or. ctl_tile(k) > ntile) check_x = 8
      else if (ctl_kind(k) == 2) then
        if (ctl_index(k) < 1 .or. ctl_index(k) > ngp) check_x = 8
      else
        check_x = 8
      end if
    end do
  end function check_x

  ! Observation operators on a finished run's hourly output (for runs made in chunks).
  subroutine obs_operator(nt, ntile, nobs, stream, s0, s1, wfoot, angle, hout, clay, pglob, &
                          y, status)
    integer, intent(in) :: nt, ntile, nobs
    integer, intent(in) :: stream(nobs), s0(nobs), s1(nobs)
    real(wp), intent(in) :: wfoot(nobs, ntile), angle(nobs), hout(nho, nt, ntile), clay
    real(wp), intent(in) :: pglob(ngp)
    real(wp), intent(out) :: y(nobs)
    integer, intent(out) :: status
    y = 0._wp
    status = check_obs(nt, ntile, nobs, stream, s0, s1, wfoot)
    if (status /= 0) return
    call apply_obs(nt, ntile, nobs, stream, s0, s1, wfoot, angle, nho, all_columns(), hout, &
                   clay, pglob, y)
    if (.not. all_finite(y, nobs)) status = 5
  end subroutine obs_operator

  integer function check_obs(nt, ntile, nobs, stream, s0, s1, wfoot)
    integer, intent(in) :: nt, ntile, nobs, stream(nobs), s0(nobs), s1(nobs)
    real(wp), intent(in) :: wfoot(nobs, ntile)
    check_obs = 0
    if (nobs == 0) return
    if (any(stream < 1) .or. any(stream > nstream) .or. any(s0 < 1) .or. any(s1 > nt) &
        .or. any(s1 < s0) .or. any(wfoot < 0._wp)) check_obs = 6
  end function check_obs

  ! Steady-state PSII fluorescence yield of the SIF operator for ratios r_sat(n) of actual to
  ! potential electron transport (dnb_photosynthesis.fluorescence_yield).
  subroutine psii_fluorescence(n, r_sat, phi_f)
    integer, intent(in) :: n
    real(wp), intent(in) :: r_sat(n)
    real(wp), intent(out) :: phi_f(n)
    integer :: k
    do k = 1, n
      phi_f(k) = fluorescence_yield(r_sat(k))
    end do
  end subroutine psii_fluorescence

  ! L-band emission pieces for tests and diagnostics: Mironov permittivity of soil with
  ! moisture sm (m3 m-3) and clay fraction; Fresnel reflectivities at theta (deg); and the
  ! tau-omega brightness temperatures (K) for soil/canopy temperatures ts, tc (K), optical
  ! depth tau, roughness h_r and single-scattering albedo omega.
  subroutine lband_emission(sm, clay, theta, ts, tc, tau, h_r, omega, eps_r, eps_i, rh, rv, &
                            tbh, tbv)
    real(wp), intent(in) :: sm, clay, theta, ts, tc, tau, h_r, omega
    real(wp), intent(out) :: eps_r, eps_i, rh, rv, tbh, tbv
    call mironov_permittivity(sm, clay, eps_r, eps_i)
    call fresnel_reflectivity(eps_r, eps_i, theta, rh, rv)
    tbh = tau_omega(rh, h_r, theta, ts, tc, tau, omega)
    tbv = tau_omega(rv, h_r, theta, ts, tc, tau, omega)
  end subroutine lband_emission

  ! C-band backscatter of the ASCAT operator for one tile state (dnb_obs.water_cloud):
  ! sigma0 (m2 m-2, linear) and d sigma0 / d theta (per degree) at incidence theta (deg),
  ! soil moisture sm (m3 m-3), vegetation water content vwc (kg m-2) and the water-cloud
  ! coefficients a, b (m2 kg-1), c (dB), d (dB per m3 m-3), n.
  subroutine cband_backscatter(theta, sm, vwc, a, b, c, d, n, sig, dsig)
    real(wp), intent(in) :: theta, sm, vwc, a, b, c, d, n
    real(wp), intent(out) :: sig, dsig
    call water_cloud(theta, sm, vwc, a, b, c, d, n, sig, dsig)
  end subroutine cband_backscatter

  ! Initial state of each tile before any spin-up (carbon pools from the parameters, soil
  ! water at sw_init, soil at t_deep in K).
  subroutine initial_state(ntile, pft, ppft, pglob, sand, clay, t_deep, state, status)
    integer, intent(in) :: ntile, pft(ntile)
    real(wp), intent(in) :: ppft(npp, ntile), pglob(ngp), sand, clay, t_deep
    real(wp), intent(out) :: state(nstate, ntile)
    integer, intent(out) :: status
    real(wp) :: sh(nsh)
    integer :: i
    status = 0
    state = 0._wp
    if (any(pft < 1) .or. any(pft > 13)) then
      status = 2
      return
    end if
    if (.not. all_finite(ppft, npp * ntile) .or. .not. all_finite(pglob, ngp)) then
      status = 4
      return
    end if
    call soil_hydraulics(sand, clay, sh)
    do i = 1, ntile
      call init_state(ppft(:, i), pglob, sh, t_deep, state(:, i))
    end do
  end subroutine initial_state

  ! Leaf-level photosynthesis of the core for one leaf at the canopy top (no nitrogen
  ! scaling), for diagnostics and tests: pass 1 at Ci = fci Ca, then pass 2 at the
  ! conductance found, with a stress factor beta on it (beta = 1: unstressed).
  ! i_abs absorbed PAR (mol m-2 s-1), ca (mol mol-1), tc (degC), pres (Pa), vcmax25
  ! (mol m-2 s-1), ajv (Jmax/Vcmax). Outputs gross assimilation at pass 1 and 2, dark
  ! respiration (mol m-2 s-1), stomatal conductance (m s-1) and Ci of pass 2 (mol mol-1).
  subroutine leaf_assimilation(c4, i_abs, ca, tc, pres, vcmax25, ajv, beta, pglob, &
                               a1, a2, rd_leaf, gs, ci)
    integer, intent(in) :: c4
    real(wp), intent(in) :: i_abs, ca, tc, pres, vcmax25, ajv, beta, pglob(ngp)
    real(wp), intent(out) :: a1, a2, rd_leaf, gs, ci
    real(wp) :: vcmax, jmax, rd, kc_eff, gstar, k4, f_hot, alpha, fci, f_rd, r_sat
    call pathway_constants(c4, pglob, alpha, fci, f_rd)
    call leaf_rates(tc, vcmax25, ajv, c4, pglob(ig_kc25), pglob(ig_ko25), pglob(ig_e_kc), &
                    pglob(ig_e_ko), pglob(ig_e_vcmax), pglob(ig_e_rd), pglob(ig_e_k4), &
                    pglob(ig_a_gamma), pglob(ig_k4_ratio), f_rd, vcmax, jmax, rd, kc_eff, &
                    gstar, k4, f_hot)
    call photo_fixed_ci(c4, i_abs, ca, fci, tc, pres, 1._wp, alpha, vcmax, jmax, rd, kc_eff, &
                        gstar, k4, f_hot, a1, rd_leaf, gs)
    call photo_given_gs(c4, i_abs, ca, tc, pres, 1._wp, alpha, vcmax, jmax, rd_leaf, kc_eff, &
                        gstar, k4, f_hot, gs * beta, a2, ci, r_sat)
  end subroutine leaf_assimilation

  ! The full layout of the hourly output: every variable in its own row.
  function all_columns() result(colpos)
    integer :: colpos(nho)
    integer :: v
    do v = 1, nho
      colpos(v) = v
    end do
  end function all_columns

  logical function all_finite(x, n)
    integer, intent(in) :: n
    real(wp), intent(in) :: x(n)
    integer :: i, nbad
    ! a count without an early exit, so that the compiler vectorises the loop (NaN fails the
    ! comparison as well as +-Inf)
    nbad = 0
    do i = 1, n
      if (.not. (abs(x(i)) <= huge(x(i)))) nbad = nbad + 1
    end do
    all_finite = nbad == 0
  end function all_finite

end module dnb_api
