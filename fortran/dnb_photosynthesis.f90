! Leaf photosynthesis after Farquhar et al. (1980) for C3 and Collatz et al. (1992) for C4,
! in the BETHY formulation (Knorr 2000; science.md section 3): temperature dependences,
! smooth co-limitation, dark respiration, stomatal conductance at fixed Ci (pass 1) and
! assimilation at given conductance (pass 2).
module dnb_photosynthesis
  use dnb_kinds, only: wp
  use dnb_constants, only: tfreeze, rgas, o2_frac
  use dnb_smooth, only: smin_pos, softplus
  implicit none
  private
  public :: leaf_rates, photo_fixed_ci, photo_given_gs, fluorescence_yield

  real(wp), parameter :: t25 = 298.15_wp        ! K
  real(wp), parameter :: eta_colim = 0.99_wp    ! co-limitation curvature (BETHY)
  real(wp), parameter :: theta_c4 = 0.83_wp     ! C4 light/Vcmax curvature (Collatz 1992)
  real(wp), parameter :: jmt = 0.04_wp          ! Jmax linear temperature slope, degC-1 (BETHY)
  real(wp), parameter :: gs_min = 4.e-5_wp      ! m s-1, minimum stomatal conductance (BETHY ZGSMIN)

contains

  ! Arrhenius factor exp(E (T - 298.15) / (298.15 R T)), T in K.
  function arrhenius(e_act, tk) result(f)
    real(wp), intent(in) :: e_act, tk
    real(wp) :: f
    f = exp(e_act * (tk - t25) / (t25 * rgas * tk))
  end function arrhenius

  ! Leaf rate constants at leaf temperature tc (degC), before nitrogen scaling.
  ! Inputs: vcmax25 (mol m-2 s-1), ajv (Jmax/Vcmax at 25 degC, already times jv_scale),
  ! c4 (1 for C4), the global constants gp(:) as named. Outputs: vcmax, jmax, rd (all
  ! mol m-2 s-1, per unit nitrogen scaling), kc_eff = Kc (1 + O/Ko) (mol mol-1), gstar
  ! (mol mol-1), k4 (C4 initial slope, mol m-2 s-1), f_hot (Collatz 1991 high-T inhibition).
  subroutine leaf_rates(tc, vcmax25, ajv, c4, kc25, ko25, e_kc, e_ko, e_vcmax, e_rd, e_k4, &
                        a_gamma, k4_ratio, f_rd, vcmax, jmax, rd, kc_eff, gstar, k4, f_hot)
    real(wp), intent(in) :: tc, vcmax25, ajv
    integer, intent(in) :: c4
    real(wp), intent(in) :: kc25, ko25, e_kc, e_ko, e_vcmax, e_rd, e_k4, a_gamma, k4_ratio, f_rd
    real(wp), intent(out) :: vcmax, jmax, rd, kc_eff, gstar, k4, f_hot
    real(wp) :: tk
    tk = tc + tfreeze
    f_hot = 1._wp / (1._wp + exp(1.3_wp * (tc - 55._wp)))
    vcmax = vcmax25 * arrhenius(e_vcmax, tk)
    rd = f_rd * vcmax25 * arrhenius(e_rd, tk) * f_hot
    if (c4 == 1) then
      ! C4 Vcmax falls steeply below about 15 degC and above about 35 degC: the low- and
      ! high-temperature inhibition terms of Collatz et al. (1992, Aust. J. Plant Physiol.
      ! 19, 519, eq. 5) on the Arrhenius rate (deviations.md)
      vcmax = vcmax / ((1._wp + exp(0.3_wp * (13._wp - tc))) * (1._wp + exp(0.3_wp * (tc - 36._wp))))
      jmax = 0._wp
      kc_eff = 0._wp
      gstar = 0._wp
      k4 = k4_ratio * vcmax25 * arrhenius(e_k4, tk)
    else
      ! linear temperature response, smoothly floored at 0 degC (BETHY JMAXMIN)
      jmax = vcmax25 * ajv * softplus(jmt * tc, 0.01_wp)
      kc_eff = kc25 * arrhenius(e_kc, tk) * (1._wp + o2_frac / (ko25 * arrhenius(e_ko, tk)))
      gstar = softplus(a_gamma * tc, 1.e-7_wp)
      k4 = 0._wp
    end if
  end subroutine leaf_rates

  ! Potential electron transport (C3) from absorbed PAR i_abs (mol m-2 s-1).
  function electron_transport(alpha, i_abs, jmax) result(j)
    real(wp), intent(in) :: alpha, i_abs, jmax
    real(wp) :: j
    j = alpha * i_abs * jmax / sqrt(jmax * jmax + (alpha * i_abs)**2 + 1.e-30_wp)
  end function electron_transport

  ! Pass 1: gross assimilation at fixed Ci = fci * Ca and the stomatal conductance that
  ! supports it, gs = 1.6 (A - Rd) R T / (p (Ca - Ci)) (m s-1, water vapour), smoothly
  ! floored at gs_min. nscl scales Vcmax, Jmax and Rd. f_dark: light inhibition of Rd.
  ! Outputs also the light-limited and the potential electron transport (for fluorescence).
  subroutine photo_fixed_ci(c4, i_abs, ca, fci, tc, pres, nscl, alpha, vcmax, jmax, rd, &
                            kc_eff, gstar, k4, f_hot, a_gross, rd_l, gs)
    integer, intent(in) :: c4
    real(wp), intent(in) :: i_abs, ca, fci, tc, pres, nscl, alpha, vcmax, jmax, rd
    real(wp), intent(in) :: kc_eff, gstar, k4, f_hot
    real(wp), intent(out) :: a_gross, rd_l, gs
    real(wp) :: ci, j, je, jc, vm, ji, an, tk, gs_fick
    tk = tc + tfreeze
    ci = fci * ca
    vm = vcmax * nscl
    if (c4 == 1) then
      ji = alpha * i_abs
      je = smin_pos(vm, ji, theta_c4)
      jc = k4 * nscl * ci
    else
      j = electron_transport(alpha, i_abs, jmax * nscl)
      je = j * (ci - gstar) / (4._wp * (ci + 2._wp * gstar))
      jc = vm * (ci - gstar) / (ci + kc_eff)
    end if
    a_gross = smin_pos(je, jc, eta_colim) * f_hot
    rd_l = rd * nscl * (0.5_wp + exp(-log(2._wp) - i_abs * 1.e6_wp / 10._wp))
    an = a_gross - rd_l
    ! each intermediate assigned once (no reuse of gs): the adjoint then stores nothing
    gs_fick = 1.6_wp * an * rgas * tk / (pres * (ca - ci))
    gs = gs_min + softplus(gs_fick - gs_min, 1.e-5_wp)
  end subroutine photo_fixed_ci

  ! Pass 2: gross assimilation at given stomatal conductance gs (m s-1, water vapour), with
  ! Ci = Ca - (A - Rd) / G0 substituted into each limiting rate; smaller root of
  ! J**2 - (G0 (Ca + K) + Rd + W) J + W (G0 (Ca - gstar) + Rd) = 0  (BETHY PHSYN2).
  ! Returns gross assimilation and the intercellular CO2 (mol mol-1).
  ! Also returns r_sat = J_a / J_e, the actual over the potential electron transport
  ! (0..1), which sets the fluorescence yield: J_a = 4 A (Ci + 2 gstar)/(Ci - gstar) for C3
  ! (electron transport that sustains A), A / (alpha I) for C4.
  subroutine photo_given_gs(c4, i_abs, ca, tc, pres, nscl, alpha, vcmax, jmax, rd_l, kc_eff, &
                            gstar, k4, f_hot, gs, a_gross, ci, r_sat)
    integer, intent(in) :: c4
    real(wp), intent(in) :: i_abs, ca, tc, pres, nscl, alpha, vcmax, jmax, rd_l
    real(wp), intent(in) :: kc_eff, gstar, k4, f_hot, gs
    real(wp), intent(out) :: a_gross, ci, r_sat
    real(wp) :: g0, j, w, je, jc, vm, tk, r_raw
    tk = tc + tfreeze
    g0 = gs * pres / (1.6_wp * rgas * tk)              ! mol m-2 s-1 for CO2
    vm = vcmax * nscl
    ! one branch on the pathway for the whole routine (the co-limitation and Ci lines are
    ! repeated in both): the adjoint records each branch it passes, at every call
    if (c4 == 1) then
      je = smin_pos(vm, alpha * i_abs, theta_c4)
      jc = k4 * nscl * (g0 * ca + rd_l) / (g0 + k4 * nscl)
      a_gross = smin_pos(je, jc, eta_colim) * f_hot
      ci = ca - (a_gross - rd_l) / g0
      r_raw = a_gross / (alpha * i_abs + 1.e-12_wp)
    else
      j = electron_transport(alpha, i_abs, jmax * nscl)
      w = 0.25_wp * j
      je = limited_rate(w, 2._wp * gstar, g0, ca, gstar, rd_l)
      jc = limited_rate(vm, kc_eff, g0, ca, gstar, rd_l)
      a_gross = smin_pos(je, jc, eta_colim) * f_hot
      ci = ca - (a_gross - rd_l) / g0
      r_raw = 4._wp * a_gross * (ci + 2._wp * gstar) / (softplus(ci - gstar, 1.e-6_wp) &
              * (j + 1.e-12_wp))
    end if
    ! r_sat <= 1 by construction (the co-limited A is below the light-limited rate, and its
    ! Ci is higher); the cap only catches rounding, so it costs no smoothness. (r_raw, not
    ! r_sat assigned twice: the adjoint then stores nothing.)
    r_sat = min(r_raw, 1._wp)
  end subroutine photo_given_gs

  ! Steady-state fluorescence yield of PSII (-) after van der Tol et al. (2014), as used in
  ! BETHY-SCOPE (Norton et al. 2018): rate constants Kf = 0.05, Kd = 0.95, Kp = 4;
  ! photochemical yield phi_P = phi_P0 r_sat; non-photochemical quenching
  ! Kn = (6.2473 x - 0.5944) x with x = 1 - r_sat; phi_F = Kf/(Kf + Kd + Kn) (1 - phi_P).
  function fluorescence_yield(r_sat) result(phi_f)
    real(wp), intent(in) :: r_sat
    real(wp) :: phi_f, phi_p, x, kn
    real(wp), parameter :: kf = 0.05_wp, kd = 0.95_wp, kp = 4._wp
    phi_p = kp / (kf + kd + kp) * r_sat
    x = 1._wp - r_sat
    kn = (6.2473_wp * x - 0.5944_wp) * x
    phi_f = kf / (kf + kd + kn) * (1._wp - phi_p)
  end function fluorescence_yield

  ! Smaller root of x**2 - b x + c = 0 with b = g0 (ca + k) + rd + w, c = w (g0 (ca - gstar) + rd).
  function limited_rate(w, k, g0, ca, gstar, rd) result(x)
    real(wp), intent(in) :: w, k, g0, ca, gstar, rd
    real(wp) :: x, b, c, disc
    b = g0 * (ca + k) + rd + w
    c = w * (g0 * (ca - gstar) + rd)
    disc = b * b - 4._wp * c
    if (disc < 0._wp) disc = 0._wp
    x = 2._wp * c / (b + sqrt(disc))
  end function limited_rate

end module dnb_photosynthesis
