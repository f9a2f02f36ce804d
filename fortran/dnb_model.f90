! The D&B time loop for one cell and its PFT tiles (science.md sections 0-5).
! Each tile (one PFT) has its own carbon pools, soil water, snow and soil temperature; cell
! values are cover-weighted sums formed outside. Hourly: radiation, photosynthesis,
! conductance, energy balance, interception, snow, soil water and temperature. Daily: DALEC
! pools, phenology and LAI.
module dnb_model
  use dnb_kinds, only: wp
  use dnb_constants, only: pi, tfreeze, par_frac, e_par, mol_c, dt_hour, z_surf, nlayer, rho_w
  use dnb_params
  ! the process modules are used whole: with "only" lists Tapenade's adjoint would import
  ! names (foo_b) that its split-mode code (foo_fwd / foo_bwd) does not define
  use dnb_smooth
  use dnb_radiation
  use dnb_photosynthesis
  use dnb_energy
  use dnb_hydrology
  use dnb_phenology
  use dnb_carbon
  use dnb_obs, only: apply_obs
  implicit none
  private
  public :: simulate, simulate_obs, init_state, pathway_constants

  real(wp), parameter :: gs_night = 4.e-5_wp   ! m s-1, minimum stomatal conductance (BETHY)
  real(wp), parameter :: rho_soil_dry = 0.30_wp, rho_soil_wet = 0.15_wp  ! soil SW albedo
  ! adjoint memory control (see simulate and run_range): runs longer than the tape budget
  ! are cut into blocks of a year
  integer, parameter :: block_hours = 8760
  real(wp), parameter :: lai_width = 0.1_wp   ! m2 m-2, smoothing width of the lai_max limit
  real(wp), parameter :: e_photon_743 = 1.61005e5_wp   ! J per mol of 743-nm photons (h c N_A / lambda)
  ! hc(nhc, nt): what each forcing hour gives every tile of the cell (no parameter enters, so
  ! it is computed once per cell, and the derivative codes treat it as a constant): solar
  ! geometry (dnb_radiation.solar_hour), beam share of short-wave 1 - diffuse_fraction, air
  ! properties (dnb_energy.air_properties) and the floored wind of the aerodynamic conductance
  integer, parameter :: ic_cosz = 1, ic_s0 = 2, ic_fdir = 3, ic_s = 4, ic_gamma = 5, &
                        ic_lambda = 6, ic_rho_air = 7, ic_u = 8, nhc = 8
  ! dsc(ndsc): scalars of a tile that change only with its LAI (once a day) or not at all,
  ! from day_constants
  integer, parameter :: jd_rho_cd = 1, jd_t_all = 2, jd_e_half = 3, jd_hyd = 4, jd_lg2 = 5, &
                        ndsc = 5

contains

  ! Run nt hourly steps for ntile tiles of one cell.
  ! init = 1: set the state from the parameters, run nspin spin-up hours cycling the forcing,
  ! then reset the carbon pools to their initial values (water, snow and temperature keep the
  ! spun-up state). init = 0: continue from state. nt must be a multiple of 24 and the first
  ! step must start at 00 UTC so that days are whole.
  ! Time: tday(nt) days since 1 January 00 UTC of the first year; cosz(nt), toa(nt): the
  ! hours' solar geometry (dnb_radiation.solar_hour: mean cos(zenith) and top-of-atmosphere
  ! irradiance, W m-2; dnb_solar computes them for the interface). met(nt, nmet): forcing
  ! (dnb_params im_*), sand/clay mass fractions. ppft(npp, ntile), pglob(ngp): parameters (dnb_params).
  ! colpos(nho): where each hourly variable goes in hout (0: not kept), ncol columns in all
  ! (all of them for a forward run; only what the observation operators read for the
  ! derivative path, which keeps the adjoint's memory small).
  ! Outputs hout(ncol, nt, ntile), dout(ndo, nd, ntile) (variable first, so that each hour
  ! writes, and the adjoint reads, one contiguous column); state(nstate, ntile) in/out.
  ! tape_hours: the adjoint's memory budget in tile-hours (about 1.4 kB each). A run whose
  ! spin-up and main hours over all tiles fit is recorded whole; otherwise every range is
  ! cut into yearly blocks that the adjoint re-runs one at a time (see run_range). The
  ! primal results do not depend on it.
  subroutine simulate(nt, nd, ntile, nspin, tape_hours, init, cosz, toa, tday, met, sand, &
                      clay, pft, ppft, pglob, ncol, colpos, state, hout, dout)
    integer, intent(in) :: nt, nd, ntile, nspin, tape_hours, init, ncol
    integer, intent(in) :: pft(ntile), colpos(nho)
    real(wp), intent(in) :: cosz(nt), toa(nt), tday(nt), met(nt, nmet), sand, clay
    real(wp), intent(in) :: ppft(npp, ntile), pglob(ngp)
    real(wp), intent(inout) :: state(nstate, ntile)
    real(wp), intent(out) :: hout(ncol, nt, ntile), dout(ndo, nd, ntile)
    real(wp) :: hc(nhc, nt), sh(nsh)
    integer :: it, c4, itile, whole, v, keep(ncol)
    ! the inverse of colpos: which hourly variable goes to column q of hout (0: none), so
    ! that each hour stores its ncol kept values without going through all nho
    keep = 0
    do v = 1, nho
      if (colpos(v) > 0) keep(colpos(v)) = v
    end do
    whole = 0
    if ((nspin + nt) * ntile <= tape_hours) whole = 1
    do it = 1, nt
      call cell_hour(cosz(it), toa(it), met(it, :), hc(:, it))
    end do
    call soil_hydraulics(sand, clay, sh)
    hout = 0._wp
    dout = 0._wp
    do itile = 1, ntile
      c4 = 0
      if (pft(itile) == 10) c4 = 1
      if (init == 1) then
        call init_state(ppft(:, itile), pglob, sh, met(1, im_tsl_deep), state(:, itile))
        if (nspin > 0) then
          !$AD NOCHECKPOINT
          call run_range(1, nspin, 0, whole, nt, nd, tday, met, hc, ppft(:, itile), &
                         pglob, sh, c4, ncol, keep, state(:, itile), hout(:, :, itile), &
                         dout(:, :, itile))
        end if
        state(is_c_lab, itile) = ppft(ip_c_lab0, itile)
        state(is_c_fol, itile) = ppft(ip_c_fol0, itile)
        state(is_c_root, itile) = ppft(ip_c_root0, itile)
        state(is_c_wood, itile) = ppft(ip_c_wood0, itile)
        state(is_c_lit, itile) = ppft(ip_c_lit0, itile)
        state(is_c_som, itile) = ppft(ip_c_som0, itile)
      end if
      !$AD NOCHECKPOINT
      call run_range(1, nt, 1, whole, nt, nd, tday, met, hc, ppft(:, itile), pglob, &
                     sh, c4, ncol, keep, state(:, itile), hout(:, :, itile), &
                     dout(:, :, itile))
    end do
  end subroutine simulate

  ! The quantities of one forcing hour that are the same for every tile (hc(:, it) above),
  ! from its solar geometry cz, s0 and forcing m.
  subroutine cell_hour(cz, s0, m, hc_h)
    real(wp), intent(in) :: cz, s0, m(nmet)
    real(wp), intent(out) :: hc_h(nhc)
    real(wp) :: s, gamma, lambda, rho_air
    hc_h(ic_cosz) = cz
    hc_h(ic_s0) = s0
    hc_h(ic_fdir) = 1._wp - diffuse_fraction(m(im_rsds), s0)
    call air_properties(m(im_tas) - tfreeze, m(im_ps), s, gamma, lambda, rho_air)
    hc_h(ic_s) = s
    hc_h(ic_gamma) = gamma
    hc_h(ic_lambda) = lambda
    hc_h(ic_rho_air) = rho_air
    hc_h(ic_u) = floored_wind(m(im_sfcWind))
  end subroutine cell_hour

  ! Hours k0..k1 of one tile (hour k uses forcing step mod(k - 1, nt) + 1, so spin-up cycles
  ! the forcing), as one piece (whole = 1) or in blocks of a year. This is where the
  ! adjoint's memory is decided: one piece is recorded whole on the adjoint stack; yearly
  ! blocks are re-run by the adjoint one at a time (Tapenade checkpoints), so memory stays at
  ! about one block per tile, for one more forward run's worth of time.
  subroutine run_range(k0, k1, store, whole, nt, nd, tday, met, hc, pp, pg, sh, c4, &
                       ncol, keep, st, hout_t, dout_t)
    integer, intent(in) :: k0, k1, store, whole, nt, nd, c4, ncol, keep(ncol)
    real(wp), intent(in) :: tday(nt), met(nt, nmet), hc(nhc, nt), pp(npp), pg(ngp)
    real(wp), intent(in) :: sh(nsh)
    real(wp), intent(inout) :: st(nstate), hout_t(ncol, nt), dout_t(ndo, nd)
    integer :: kb, kend
    if (whole == 1) then
      !$AD NOCHECKPOINT
      call run_hours(k0, k1, store, nt, nd, tday, met, hc, pp, pg, sh, c4, ncol, keep, &
                     st, hout_t, dout_t)
    else
      do kb = k0, k1, block_hours
        kend = min(kb + block_hours - 1, k1)
        call run_hours(kb, kend, store, nt, nd, tday, met, hc, pp, pg, sh, c4, ncol, &
                       keep, st, hout_t, dout_t)
      end do
    end if
  end subroutine run_range

  ! The hourly loop of one tile from hour k0 to k1 (whole days), with the daily DALEC step at
  ! the end of each day; store = 1 writes the outputs hout_t(:, step), dout_t(:, day).
  ! The tile's once-a-day quantities (day_constants) are computed at the start of each day.
  subroutine run_hours(k0, k1, store, nt, nd, tday, met, hc, pp, pg, sh, c4, ncol, &
                       keep, st, hout_t, dout_t)
    integer, intent(in) :: k0, k1, store, nt, nd, c4, ncol, keep(ncol)
    real(wp), intent(in) :: tday(nt), met(nt, nmet), hc(nhc, nt), pp(npp), pg(ngp)
    real(wp), intent(in) :: sh(nsh)
    real(wp), intent(inout) :: st(nstate), hout_t(ncol, nt), dout_t(ndo, nd)
    real(wp) :: ho(nho), dd(ndo), acc_gpp, acc_tr, acc_rr, acc_fm, acc_bw, acc_sw, t_mid
    real(wp) :: nscl_l(nlayer), esc_l(nlayer), t_d(0:nlayer), dsc(ndsc)
    integer :: k, idx, q
    acc_gpp = 0._wp
    acc_tr = 0._wp
    acc_rr = 0._wp
    acc_fm = 0._wp
    acc_bw = 0._wp
    acc_sw = 0._wp
    do k = k0, k1
      idx = mod(k - 1, nt) + 1
      if (mod(k - 1, 24) == 0) then
        !$AD NOCHECKPOINT
        call day_constants(pp, pg, st, nscl_l, esc_l, t_d, dsc)
      end if
      !$AD NOCHECKPOINT
      call tile_hour(met(idx, :), hc(:, idx), pp, pg, sh, c4, nscl_l, esc_l, t_d, dsc, st, &
                     ho, acc_gpp, acc_tr, acc_rr, acc_fm, acc_bw, acc_sw)
      if (store == 1) then
        do q = 1, ncol
          if (keep(q) > 0) hout_t(q, idx) = ho(keep(q))
        end do
      end if
      if (mod(k, 24) == 0) then
        t_mid = tday(idx) - 0.5_wp
        !$AD NOCHECKPOINT
        call tile_day(t_mid, pp, pg, sh, st, acc_gpp, acc_tr, acc_rr, acc_fm, acc_bw, &
                      acc_sw, dd)
        if (store == 1) dout_t(:, idx / 24) = dd
      end if
    end do
  end subroutine run_hours

  ! The model and its observation operators in one call: y = H(M(p)). Arguments as for
  ! simulate, plus the observations (dnb_obs.apply_obs): nobs, stream(nobs) codes, s0/s1
  ! first/last hourly step of each window, wfoot(nobs, ntile) footprint weights, angle(nobs)
  ! incidence angles (deg); y(nobs) simulated observations.
  subroutine simulate_obs(nt, nd, ntile, nspin, tape_hours, init, cosz, toa, tday, met, &
                          sand, clay, pft, ppft, pglob, state, nobs, stream, s0, s1, &
                          wfoot, angle, ncol, colpos, hout, dout, y)
    integer, intent(in) :: nt, nd, ntile, nspin, tape_hours, init, nobs
    integer, intent(in) :: pft(ntile), stream(nobs), s0(nobs), s1(nobs)
    real(wp), intent(in) :: cosz(nt), toa(nt), tday(nt), met(nt, nmet), sand, clay
    real(wp), intent(in) :: ppft(npp, ntile), pglob(ngp), wfoot(nobs, ntile), angle(nobs)
    real(wp), intent(inout) :: state(nstate, ntile)
    integer, intent(in) :: ncol, colpos(nho)
    real(wp), intent(out) :: hout(ncol, nt, ntile), dout(ndo, nd, ntile), y(nobs)
    !$AD NOCHECKPOINT
    call simulate(nt, nd, ntile, nspin, tape_hours, init, cosz, toa, tday, met, sand, clay, &
                  pft, ppft, pglob, ncol, colpos, state, hout, dout)
    call apply_obs(nt, ntile, nobs, stream, s0, s1, wfoot, angle, ncol, colpos, hout, clay, &
                   pglob, y)
  end subroutine simulate_obs

  ! Initial state of one tile: carbon pools from the parameters, both soil layers at the
  ! relative plant-available water sw_init, no snow or canopy water, soil at t_deep (K).
  subroutine init_state(pp, pg, sh, t_deep, st)
    real(wp), intent(in) :: pp(npp), pg(ngp), sh(nsh), t_deep
    real(wp), intent(out) :: st(nstate)
    real(wp) :: theta0
    st(is_c_lab) = pp(ip_c_lab0)
    st(is_c_fol) = pp(ip_c_fol0)
    st(is_c_root) = pp(ip_c_root0)
    st(is_c_wood) = pp(ip_c_wood0)
    st(is_c_lit) = pp(ip_c_lit0)
    st(is_c_som) = pp(ip_c_som0)
    theta0 = sh(ish_theta_wp) + pg(ig_sw_init) * (sh(ish_theta_fc) - sh(ish_theta_wp))
    st(is_w_surf) = theta0 * z_surf * rho_w
    st(is_w_root) = theta0 * pp(ip_zroot) * rho_w
    st(is_w_canopy) = 0._wp
    st(is_snow) = 0._wp
    st(is_snow_rho) = 100._wp
    st(is_snow_alb) = 0.8_wp
    st(is_tsoil1) = t_deep
    st(is_tsoil2) = t_deep
    st(is_hydration) = 1._wp
  end subroutine init_state

  ! What a tile's hours use that changes only with its LAI, C_fol / LMA, which changes once a
  ! day (tile_day), or not at all; computed at the start of each day instead of every hour,
  ! with the same expressions, so the results are the same to the last bit. nscl_l(l):
  ! nitrogen scaling of Vcmax, Jmax and Rd, and esc_l(l): escape of fluorescence, at the
  ! middle of canopy layer l; t_d, dsc(jd_rho_cd), dsc(jd_t_all): the diffuse-light
  ! quantities of dnb_radiation.diffuse_transmission; dsc(jd_e_half) = exp(-0.5 LAI/fc)
  ! (long-wave transmission and interception); dsc(jd_hyd): the hourly relaxation rate of
  ! vegetation hydration; dsc(jd_lg2): the log-profile term of the aerodynamic conductance.
  subroutine day_constants(pp, pg, st, nscl_l, esc_l, t_d, dsc)
    real(wp), intent(in) :: pp(npp), pg(ngp), st(nstate)
    real(wp), intent(out) :: nscl_l(nlayer), esc_l(nlayer), t_d(0:nlayer), dsc(ndsc)
    real(wp) :: lai, fc, lc, rho_cd, t_all
    integer :: l
    lai = st(is_c_fol) / pp(ip_lma)
    fc = pp(ip_fc_max)
    lc = lai / fc
    do l = 1, nlayer
      nscl_l(l) = exp(-pp(ip_kn) * lc * (real(l, wp) - 0.5_wp) / real(nlayer, wp))
      esc_l(l) = exp(-pg(ig_sif_kesc) * lc * (real(l, wp) - 0.5_wp) / real(nlayer, wp))
    end do
    !$AD NOCHECKPOINT
    call diffuse_transmission(lai, fc, pp(ip_leaf_scat), t_d, rho_cd, t_all)
    dsc(jd_rho_cd) = rho_cd
    dsc(jd_t_all) = t_all
    dsc(jd_e_half) = exp(-0.5_wp * lai / fc)
    dsc(jd_hyd) = 1._wp - exp(-1._wp / (24._wp * pg(ig_hyd_tau)))
    dsc(jd_lg2) = aero_log2(pp(ip_height))
  end subroutine day_constants

  ! One hour of one tile. m(nmet): forcing of the hour; hc_h(nhc): the cell's quantities of
  ! the hour (cell_hour); pp, pg: parameters; nscl_l, esc_l, t_d, dsc: the tile's quantities
  ! of the day (day_constants); st: state (updated); ho: hourly outputs; acc_*: daily
  ! accumulators of GPP (gC m-2), exp(p10 T), exp(p10 T) * moisture modifier, moisture
  ! modifier, water-stress factor times shortwave and shortwave (sums over hours).
  subroutine tile_hour(m, hc_h, pp, pg, sh, c4, nscl_l, esc_l, t_d, dsc, st, ho, acc_gpp, &
                       acc_tr, acc_rr, acc_fm, acc_bw, acc_sw)
    real(wp), intent(in) :: m(nmet), hc_h(nhc), pp(npp), pg(ngp), sh(nsh)
    real(wp), intent(in) :: nscl_l(nlayer), esc_l(nlayer), t_d(0:nlayer), dsc(ndsc)
    integer, intent(in) :: c4
    real(wp), intent(inout) :: st(nstate), acc_gpp, acc_tr, acc_rr, acc_fm, acc_bw, acc_sw
    real(wp), intent(out) :: ho(nho)
    real(wp) :: tk, tc, sw, lw, prh, vpd, pres, ca, lai, fc, sigma_l
    real(wp) :: rel_s, rel_r, rho_s, rho_g, rho_par, f_cover
    real(wp) :: abs_c(2 * nlayer)
    real(wp) :: a0(2 * nlayer), rdl(2 * nlayer), gs0(2 * nlayer), lcl(2 * nlayer), icl(2 * nlayer)
    real(wp) :: cosz
    real(wp) :: fapar, fsun, par_in, fdir, s, gamma, lambda, rho_air, ga
    real(wp) :: rn_can, rn_soil, rlus, tlv, gflux, x_pm, e_pc, e_ps
    real(wp) :: rain, melt, sublim, f_cov2, e_int, thr, gc0, supply, e_t, beta
    real(wp) :: vcmax, jmax, rd, kc_eff, gstar, k4, f_hot, alpha, fci, f_rd, lc
    real(wp) :: a_g(2 * nlayer), ci(2 * nlayer), r_sat(2 * nlayer), gsw(2 * nlayer)
    real(wp) :: phi(2 * nlayer)
    real(wp) :: gpp_mol, gpp_h, trans, infl, runoff, e_soil, perc, drain
    real(wp) :: f_thaw, et, le, tcan, tr, fm, ra_h, rh_h, g_soil
    real(wp) :: sif_photon, hyd_target, vwc, theta_s, theta_r
    real(wp) :: avail_soil, e_pot_h, ddf, e_pc_h, w_can, w_in, e_soil_pot, zroot
    real(wp) :: ksat_scale, le_soil, t_deep, ajv
    real(wp) :: snow, snow_rho, snow_alb, w_s, w_r, t1, t2
    integer :: j
    logical :: day
    tk = m(im_tas)
    tc = tk - tfreeze
    sw = m(im_rsds)
    lw = m(im_rlds)
    prh = m(im_pr) * dt_hour
    vpd = m(im_vpd)
    pres = m(im_ps)
    ca = m(im_co2)
    lai = st(is_c_fol) / pp(ip_lma)
    fc = pp(ip_fc_max)
    sigma_l = pp(ip_leaf_scat)
    lc = lai / fc
    ! surface albedos: soil darkens when wet; snow covers the ground
    theta_s = st(is_w_surf) / (z_surf * rho_w)
    theta_r = st(is_w_root) / (pp(ip_zroot) * rho_w)
    rel_s = rel_water(theta_s, sh)
    rel_r = rel_water(theta_r, sh)
    rho_s = rho_soil_dry - (rho_soil_dry - rho_soil_wet) * rel_s
    f_cover = st(is_snow) / (st(is_snow) + 5._wp)
    rho_g = f_cover * st(is_snow_alb) + (1._wp - f_cover) * rho_s
    rho_par = f_cover * st(is_snow_alb) + (1._wp - f_cover) * (0.92_wp * rho_s - 0.015_wp)
    ! canopy radiative transfer
    cosz = hc_h(ic_cosz)
    day = (sw > 0.1_wp .and. cosz > 0._wp)
    if (day) then
      fdir = hc_h(ic_fdir)
      ! re-run by the adjoint (Tapenade checkpoint) rather than taped: with its beam
      ! transmissions as powers it evaluates three exponentials, and re-running it costs
      ! less than storing and reading back its 25 intermediates (docs/performance.md)
      call canopy_par(lai, fc, cosz, fdir, sigma_l, rho_par, t_d, dsc(jd_rho_cd), abs_c, &
                      lcl, fapar, fsun)
    else
      fapar = 0._wp
      fsun = 0._wp
      abs_c = 0._wp
      lcl = 0._wp
    end if
    par_in = par_frac * sw / e_par                      ! mol photons m-2 s-1
    ! energy: net radiation, ground heat, potential evaporation
    s = hc_h(ic_s)
    gamma = hc_h(ic_gamma)
    lambda = hc_h(ic_lambda)
    rho_air = hc_h(ic_rho_air)
    ga = aero_from(hc_h(ic_u), dsc(jd_lg2))
    !$AD NOCHECKPOINT
    call net_radiation(sw, lw, tk, fapar, rho_g, dsc(jd_e_half), fc, rn_can, rn_soil, rlus, &
                       tlv)
    gflux = pg(ig_g_frac) * rn_soil                     ! for the available energy of E_s
    avail_soil = rn_soil - gflux
    !$AD NOCHECKPOINT
    call potential_rates(s, gamma, lambda, rho_air, vpd, ga, rn_can, avail_soil, x_pm, &
                         e_pc, e_ps)
    ! snow and interception (mm over the hour)
    ! state elements go through scalar copies wherever one call updates several of them:
    ! Tapenade treats elements of one array as possible aliases (message DF02)
    snow = st(is_snow)
    snow_rho = st(is_snow_rho)
    snow_alb = st(is_snow_alb)
    e_pot_h = e_ps * dt_hour
    ddf = pg(ig_ddf)
    ! re-run by the adjoint (Tapenade checkpoint) rather than taped: most hours have no
    ! snow, and the taped version stored a dozen values and six branches for them
    ! (docs/performance.md)
    call snow_step(tc, prh, e_pot_h, ddf, snow, snow_rho, snow_alb, rain, melt, sublim, f_cov2)
    st(is_snow) = snow
    st(is_snow_rho) = snow_rho
    st(is_snow_alb) = snow_alb
    e_pc_h = e_pc * dt_hour
    w_can = st(is_w_canopy)
    ! re-run by the adjoint rather than taped (docs/performance.md)
    call interception(rain, lai, fc, dsc(jd_e_half), e_pc_h, w_can, e_int, thr)
    st(is_w_canopy) = w_can
    ! photosynthesis pass 1: unstressed conductance of each leaf class
    !$AD NOCHECKPOINT
    call pathway_constants(c4, pg, alpha, fci, f_rd)
    gc0 = gs_night * lai
    if (day .and. lai > 1.e-6_wp) then
      ajv = pp(ip_ajv) * pp(ip_jv_scale)
      !$AD NOCHECKPOINT
      call leaf_rates(tc, pp(ip_vcmax25), ajv, c4, pg(ig_kc25), &
                      pg(ig_ko25), pg(ig_e_kc), pg(ig_e_ko), pg(ig_e_vcmax), pg(ig_e_rd), &
                      pg(ig_e_k4), pg(ig_a_gamma), pg(ig_k4_ratio), f_rd, vcmax, jmax, rd, &
                      kc_eff, gstar, k4, f_hot)
      ! leaf classes j = 2 l - 1 (sunlit) and 2 l (shaded) of layer l (canopy_par): their
      ! leaf area lcl(j), absorbed PAR per leaf area icl(j), nitrogen (Vcmax, Jmax, Rd)
      ! scaling at the middle of their layer nscl_l((j + 1) / 2). Whole-array statements
      ! and one loop over the classes with constant bounds: with a nested loop over layers
      ! and classes and scalar copies, the adjoint stored every class value twice and
      ! the loop bounds as integers (docs/performance.md)
      icl = abs_c * par_in / (lcl + 1.e-9_wp)
      gc0 = 0._wp
      ! the two leaf-photosynthesis calls are left to Tapenade's checkpointing (the adjoint
      ! re-runs each just before its reverse sweep) rather than NOCHECKPOINT: recording
      ! their values for the whole run would make the tape much larger, and the re-run costs
      ! fewer instructions than recording and reading them back (taped: +5.6 % adjoint
      ! instructions, docs/performance.md)
      do j = 1, 2 * nlayer
        call photo_fixed_ci(c4, icl(j), ca, fci, tc, pres, nscl_l((j + 1) / 2), alpha, &
                            vcmax, jmax, rd, kc_eff, gstar, k4, f_hot, a0(j), rdl(j), gs0(j))
        gc0 = gc0 + gs0(j) * lcl(j)
      end do
    end if
    ! water supply and transpiration (Knorr 2000 eqs 81-82)
    supply = pg(ig_c_w) * rel_r / dt_hour                 ! kg m-2 s-1
    gc0 = gc0 + 1.e-9_wp
    ! re-run by the adjoint rather than taped (docs/performance.md)
    call transpiration(s, gamma, lambda, x_pm, ga, gc0, supply, e_t, beta)
    trans = e_t * dt_hour
    ! photosynthesis pass 2 at the water-limited conductance
    ! and the fluorescence that each leaf class emits (half of its absorbed PAR goes to PSII)
    ! and that escapes the canopy above it
    gpp_mol = 0._wp
    sif_photon = 0._wp
    if (day .and. lai > 1.e-6_wp) then
      gsw = gs0 * beta
      do j = 1, 2 * nlayer
        call photo_given_gs(c4, icl(j), ca, tc, pres, nscl_l((j + 1) / 2), alpha, vcmax, &
                            jmax, rdl(j), kc_eff, gstar, k4, f_hot, gsw(j), a_g(j), ci(j), &
                            r_sat(j))
        phi(j) = fluorescence_yield(r_sat(j))
      end do
      do j = 1, 2 * nlayer
        gpp_mol = gpp_mol + a_g(j) * lcl(j)
        sif_photon = sif_photon + phi(j) * 0.5_wp * icl(j) * lcl(j) * esc_l((j + 1) / 2)
      end do
    end if
    gpp_h = gpp_mol * mol_c * dt_hour                     ! gC m-2 h-1
    ! soil water and temperature
    f_thaw = sstep(st(is_tsoil1) - tfreeze, 0.5_wp)
    w_s = st(is_w_surf)
    w_r = st(is_w_root)
    w_in = thr + melt
    e_soil_pot = e_ps * dt_hour * (1._wp - f_cov2)
    zroot = pp(ip_zroot)
    ksat_scale = pg(ig_ksat_scale)
    ! re-run by the adjoint (Tapenade checkpoint) rather than taped: see docs/performance.md
    call soil_water_step(w_in, e_soil_pot, trans, sh, zroot, ksat_scale, f_thaw, w_s, w_r, &
                         infl, runoff, e_soil, perc, drain)
    st(is_w_surf) = w_s
    st(is_w_root) = w_r
    t1 = st(is_tsoil1)
    t2 = st(is_tsoil2)
    le_soil = lambda * e_soil / dt_hour
    theta_s = w_s / (z_surf * rho_w)
    t_deep = m(im_tsl_deep)
    ! re-run by the adjoint rather than taped (docs/performance.md)
    call soil_temperature_step(rn_soil, le_soil, tk, rho_air, theta_s, sh, t_deep, t1, t2, &
                               g_soil)
    st(is_tsoil1) = t1
    st(is_tsoil2) = t2
    et = trans + e_soil + e_int + sublim
    le = lambda * et / dt_hour
    tcan = canopy_temperature(tk, rn_can, lambda * (e_t + e_int / dt_hour), rho_air, ga)
    ! carbon fluxes of the hour (DALEC rates from the pools at the start of the day)
    tr = exp(pp(ip_temp_exp) * tc)
    fm = pg(ig_rh_wmin) + (1._wp - pg(ig_rh_wmin)) * 0.5_wp * (rel_s + rel_r)
    ra_h = pp(ip_f_auto) * gpp_h
    rh_h = (pp(ip_theta_lit) * st(is_c_lit) + pp(ip_theta_som) * st(is_c_som)) * tr * fm / 24._wp
    acc_gpp = acc_gpp + gpp_h
    acc_tr = acc_tr + tr
    acc_rr = acc_rr + tr * fm
    acc_fm = acc_fm + fm
    acc_bw = acc_bw + beta * sw
    acc_sw = acc_sw + sw
    ho(ih_gpp) = gpp_h
    ho(ih_ra) = ra_h
    ho(ih_rh) = rh_h
    ho(ih_nee) = ra_h + rh_h - gpp_h
    ho(ih_apar) = fapar * par_frac * sw
    ho(ih_fapar) = fapar
    ho(ih_fsun) = fsun
    ho(ih_et) = et
    ho(ih_trans) = trans
    ho(ih_evap_soil) = e_soil
    ho(ih_evap_int) = e_int
    ho(ih_sublim) = sublim
    ho(ih_le) = le
    ho(ih_rnet) = rn_can + rn_soil
    ho(ih_gflux) = g_soil
    ho(ih_hfss) = rn_can + rn_soil - g_soil - le
    ho(ih_rlus) = rlus
    ho(ih_tcan) = tcan
    ho(ih_tsoil1) = st(is_tsoil1)
    ho(ih_tsoil2) = st(is_tsoil2)
    ho(ih_sm_surf) = st(is_w_surf) / (z_surf * rho_w)
    ho(ih_sm_root) = st(is_w_root) / (pp(ip_zroot) * rho_w)
    ho(ih_snow) = st(is_snow)
    ho(ih_runoff) = runoff
    ho(ih_drainage) = drain
    ho(ih_water_store) = st(is_w_surf) + st(is_w_root) + st(is_w_canopy) + st(is_snow)
    ho(ih_gc) = gc0 * beta
    ho(ih_beta_w) = beta
    ho(ih_precip) = prh
    ho(ih_lai) = lai
    ho(ih_fapar_ws) = white_sky_from(fc, dsc(jd_rho_cd), dsc(jd_t_all), rho_par)
    ! SIF at 743 nm: photon flux -> spectral radiance (isotropic), mW m-2 sr-1 nm-1
    ho(ih_sif) = pg(ig_sif_scale) * pg(ig_sif_spec) * e_photon_743 / pi * 1.e3_wp * sif_photon
    ! vegetation water: hydration relaxes towards the root-zone water status
    hyd_target = pg(ig_hyd_min) + (1._wp - pg(ig_hyd_min)) * rel_r
    st(is_hydration) = st(is_hydration) + (hyd_target - st(is_hydration)) &
                       * dsc(jd_hyd)
    vwc = pg(ig_leaf_water) * st(is_c_fol) * st(is_hydration) &
          + pg(ig_wood_water) * st(is_c_wood) * (0.5_wp + 0.5_wp * st(is_hydration))
    ho(ih_vwc) = vwc
    ho(ih_vod) = pg(ig_vod_b) * vwc
    ! above-ground biomass: carbon -> dry matter (0.5 gC g-1), g m-2 -> Mg ha-1
    ho(ih_agb) = (pg(ig_f_above) * st(is_c_wood) + st(is_c_fol)) / 0.5_wp * 0.01_wp
  end subroutine tile_hour

  ! The global photosynthesis constants of a tile's pathway (c4 = 1: C4, else C3): quantum
  ! efficiency alpha, unstressed Ci/Ca fci and dark respiration / Vcmax f_rd.
  ! fci sets only the unstressed conductance of pass 1 (docs/science/productivity.md): the
  ! default fci_c3 = 0.87 (fci_c4 = 0.67) are the values Knorr (2000) gives from Beerling &
  ! Quick (1995) and Schulze et al. (1994); the CCDAS-BETHY code uses 0.65 (0.37), which
  ! lowers both the unstressed assimilation and the transpiration demand.
  subroutine pathway_constants(c4, pg, alpha, fci, f_rd)
    integer, intent(in) :: c4
    real(wp), intent(in) :: pg(ngp)
    real(wp), intent(out) :: alpha, fci, f_rd
    if (c4 == 1) then
      alpha = pg(ig_alpha_c4)
      fci = pg(ig_fci_c4)
      f_rd = pg(ig_f_rd_c4)
    else
      alpha = pg(ig_alpha_c3)
      fci = pg(ig_fci_c3)
      f_rd = pg(ig_f_rd_c3)
    end if
  end subroutine pathway_constants

  ! End of a day for one tile: DALEC pools from the day's GPP and rate modifiers, phenology
  ! factors at the day's midpoint t (days since 1 January of the first year).
  ! Deviation from DALEC2 (docs/science/deviations.md): the leaf-loss factor phi_f is the
  ! DALEC2 leaf-fall pulse plus a drought leaf loss leaf_dry_loss * (1 - beta_d)**3, beta_d
  ! the day's shortwave-weighted mean of the water-stress factor on canopy conductance (the
  ! form of Arora & Boer 2005, CTEM, with the stress of the canopy instead of the soil
  ! saturation): leaves of grasses and deciduous plants senesce in a drought, so that a
  ! canopy does not keep more leaf area than its roots can supply with water.
  ! Second deviation: a canopy-capacity loss shade_loss * softplus(LAI - lai_max, w) /
  ! (LAI + w), w = lai_width (LAI at the start of the day): foliage beyond the PFT's maximum
  ! LAI (the ORCHIDEE maximum LAI, Krinner et al. 2005) is shed within about 1/shade_loss
  ! days, as the shaded lowest leaves, whose carbon balance is negative, senesce. DALEC2 has
  ! no limit, and its labile-release pulse turns a whole year's stored carbon into leaves
  ! (grass LAI 6-9.5 at equilibrium; docs/science/phenology.md). Smooth, negligible more
  ! than 0.5 below lai_max (factor < 1e-3 shade_loss).
  subroutine tile_day(t, pp, pg, sh, st, acc_gpp, acc_tr, acc_rr, acc_fm, acc_bw, acc_sw, dd)
    real(wp), intent(in) :: t, pp(npp), pg(ngp), sh(nsh)
    real(wp), intent(inout) :: st(nstate), acc_gpp, acc_tr, acc_rr, acc_fm, acc_bw, acc_sw
    real(wp), intent(out) :: dd(ndo)
    real(wp) :: pools(npool), flux(nflux), phi_f, phi_o, lai, rel_s, rho_par, theta_s
    real(wp) :: beta_d, lai0
    beta_d = (acc_bw + 1._wp) / (acc_sw + 1._wp)
    lai0 = st(is_c_fol) / pp(ip_lma)
    phi_f = leaf_fall_factor(t, pp(ip_leaf_life), pp(ip_d_fall), pp(ip_cr_fall)) &
            + pp(ip_leaf_dry_loss) * (1._wp - beta_d)**3 &
            + pg(ig_shade_loss) * softplus(lai0 - pp(ip_lai_max), lai_width) &
            / (lai0 + lai_width)
    phi_o = labile_release_factor(t, pp(ip_d_onset), pp(ip_cr_onset))
    pools = st(is_c_lab:is_c_som)
    !$AD NOCHECKPOINT
    call dalec_day(pools, acc_gpp, acc_tr / 24._wp, acc_rr / 24._wp, phi_f, phi_o, &
                   pp(ip_theta_min), pp(ip_f_auto), pp(ip_f_fol), pp(ip_f_root), &
                   pp(ip_theta_wood), pp(ip_theta_root), pp(ip_theta_lit), pp(ip_theta_som), &
                   pp(ip_f_lab), flux)
    st(is_c_lab:is_c_som) = pools
    lai = pools(2) / pp(ip_lma)
    theta_s = st(is_w_surf) / (z_surf * rho_w)
    rel_s = rel_water(theta_s, sh)
    rho_par = 0.92_wp * (rho_soil_dry - (rho_soil_dry - rho_soil_wet) * rel_s) - 0.015_wp
    dd(id_c_lab:id_c_som) = pools
    dd(id_f_gpp:id_f_labrelease_factor) = flux
    dd(id_lai_day) = lai
    dd(id_fapar_ws) = fapar_white_sky(lai, pp(ip_fc_max), pp(ip_leaf_scat), rho_par)
    dd(id_moist_rate) = acc_fm / 24._wp
    acc_gpp = 0._wp
    acc_tr = 0._wp
    acc_rr = 0._wp
    acc_fm = 0._wp
    acc_bw = 0._wp
    acc_sw = 0._wp
  end subroutine tile_day

end module dnb_model
