! Surface energy balance and evapotranspiration (BETHY; Knorr 1997 eqs 36-47 and Knorr 2000
! eqs 81-82; science.md section 5): humidity functions, aerodynamic conductance, net
! radiation of canopy and soil, Penman-Monteith demand, supply-limited transpiration and the
! canopy conductance that goes with it, canopy temperature.
module dnb_energy
  use dnb_kinds, only: wp
  use dnb_constants, only: tfreeze, cp_air, eps_h2o, rgas, m_air, sigma_sb, emis_surf, von_karman
  use dnb_smooth, only: smin_pos, smax0
  implicit none
  private
  public :: air_properties, aero_conductance, net_radiation, potential_rates, &
            transpiration, canopy_temperature, floored_wind, aero_log2, aero_from

  real(wp), parameter :: h_ref = 2._wp      ! m above the canopy, reference height (BETHY)
  real(wp), parameter :: z0_frac = 0.1_wp   ! roughness length / vegetation height
  real(wp), parameter :: a_z0 = 4.3568_wp   ! BETHY offset in the log profile
  real(wp), parameter :: rho_veg = 0.15_wp  ! albedo of dense vegetation (ALBV0)
  real(wp), parameter :: a_soil0 = 0.05_wp  ! fraction absorbed by soil under dense canopy (ASOIL0)

contains

  ! Air properties at air temperature tc (degC) and pressure pres (Pa):
  ! s = d e_s / dT (Pa K-1), gamma psychrometric constant (Pa K-1), lambda latent heat
  ! (J kg-1; BETHY form, sublimation below 0 degC), rho_air (kg m-3).
  subroutine air_properties(tc, pres, s, gamma, lambda, rho_air)
    real(wp), intent(in) :: tc, pres
    real(wp), intent(out) :: s, gamma, lambda, rho_air
    real(wp) :: es, a, b
    if (tc > 0._wp) then
      a = 17.269_wp
      b = 237.3_wp
      lambda = 3.1512e6_wp - 2.38e3_wp * (tc + tfreeze)
    else
      a = 22.33_wp
      b = 271.15_wp
      lambda = 2.834e6_wp
    end if
    es = 610.78_wp * exp(a * tc / (b + tc))
    s = a * b * es / (b + tc)**2
    gamma = pres * cp_air / (eps_h2o * lambda)
    rho_air = pres * m_air / (rgas * (tc + tfreeze))
  end subroutine air_properties

  ! Aerodynamic conductance from the reference height to the canopy (m s-1), BETHY form
  ! ga = k**2 u / ln(h_ref / (z0f h) + a_z0)**2, wind smoothly floored at 0.3 m s-1.
  function aero_conductance(wind, height) result(ga)
    real(wp), intent(in) :: wind, height
    real(wp) :: ga
    ga = aero_from(floored_wind(wind), aero_log2(height))
  end function aero_conductance

  ! The parts of aero_conductance: the floored wind u (m s-1, a property of the forcing
  ! hour), the squared log profile term of a canopy of the given height (a constant of the
  ! tile) and ga from the two.
  function floored_wind(wind) result(u)
    real(wp), intent(in) :: wind
    real(wp) :: u
    u = 0.3_wp + smax0(wind - 0.3_wp, 0.1_wp)
  end function floored_wind

  function aero_log2(height) result(lg2)
    real(wp), intent(in) :: height
    real(wp) :: lg2
    lg2 = log(h_ref / (z0_frac * height) + a_z0)**2
  end function aero_log2

  function aero_from(u, lg2) result(ga)
    real(wp), intent(in) :: u, lg2
    real(wp) :: ga
    ga = von_karman**2 * u / lg2
  end function aero_from

  ! Net radiation of canopy and soil (W m-2). Short-wave absorptivities after Knorr (1997):
  ! canopy a_V = (1 - rho_V0 - a_s0) FAPAR, ground a_S = 1 - rho_g - (1 - rho_g - a_s0) FAPAR;
  ! long-wave net from downwelling LW and the surface emission at air temperature, split by
  ! the canopy long-wave transmissivity t_LV = (1 - fc) + fc exp(-0.5 LAI/fc).
  ! e_half = exp(-0.5 LAI/fc), which the tile computes once a day (interception uses it too).
  subroutine net_radiation(sw, lw, tk, fapar, rho_ground, e_half, fc, rn_can, rn_soil, rlus, &
                           tlv)
    real(wp), intent(in) :: sw, lw, tk, fapar, rho_ground, e_half, fc
    real(wp), intent(out) :: rn_can, rn_soil, rlus, tlv
    real(wp) :: a_v, a_s, rln
    a_v = (1._wp - rho_veg - a_soil0) * fapar
    a_s = 1._wp - rho_ground - (1._wp - rho_ground - a_soil0) * fapar
    rlus = emis_surf * sigma_sb * tk**4 + (1._wp - emis_surf) * lw
    rln = lw - rlus
    tlv = (1._wp - fc) + fc * e_half
    rn_can = (1._wp - tlv) * rln + a_v * sw
    rn_soil = tlv * rln + a_s * sw
  end subroutine net_radiation

  ! Potential rates (kg m-2 s-1, >= 0): wet-canopy evaporation E_pc = X / (s + gamma) / lambda
  ! with X = s Rn_c + rho cp D ga, and equilibrium soil evaporation E_ps = s A_s / (s + gamma) /
  ! lambda with A_s the available energy at the soil surface (Knorr 1997).
  subroutine potential_rates(s, gamma, lambda, rho_air, vpd, ga, rn_can, avail_soil, x_pm, &
                             e_pc, e_ps)
    real(wp), intent(in) :: s, gamma, lambda, rho_air, vpd, ga, rn_can, avail_soil
    real(wp), intent(out) :: x_pm, e_pc, e_ps
    x_pm = s * rn_can + rho_air * cp_air * vpd * ga
    e_pc = smax0(x_pm, 1._wp) / (s + gamma) / lambda
    e_ps = s * smax0(avail_soil, 1._wp) / (s + gamma) / lambda
  end subroutine potential_rates

  ! Transpiration (kg m-2 s-1): Penman-Monteith demand with the unstressed canopy
  ! conductance gc0 (m s-1), limited by the root supply (kg m-2 s-1) with the smooth minimum
  ! of Knorr (2000) eq. 82. The stress factor beta = gc / gc0 comes from inverting
  ! Penman-Monteith for the conductance that gives the actual rate.
  subroutine transpiration(s, gamma, lambda, x_pm, ga, gc0, supply, e_t, beta)
    real(wp), intent(in) :: s, gamma, lambda, x_pm, ga, gc0, supply
    real(wp), intent(out) :: e_t, beta
    real(wp) :: demand, gc, le
    demand = smax0(x_pm, 1._wp) / (s + gamma * (1._wp + ga / gc0)) / lambda
    e_t = smin_pos(demand, supply, 0.99_wp)
    ! e_t < demand, so the denominator stays positive and beta = gc / gc0 < 1 varies smoothly
    ! (no branch: a switch to beta = 1 at low available energy would be a jump)
    le = lambda * e_t
    gc = gamma * ga * le / (smax0(x_pm, 1._wp) - le * (s + gamma))
    beta = gc / gc0
  end subroutine transpiration

  ! Canopy temperature (K) from the canopy energy balance: the energy Rn_c - lambda E leaves
  ! as sensible heat and as the change of the canopy's own long-wave emission, i.e. through
  ! the aerodynamic plus the radiative conductance g_r = 4 eps sigma T**3 / (rho cp)
  ! (Monteith & Unsworth 2013, ch. 13; Knorr 1997 without g_r).
  function canopy_temperature(tk, rn_can, le_can, rho_air, ga) result(tcan)
    real(wp), intent(in) :: tk, rn_can, le_can, rho_air, ga
    real(wp) :: tcan, g_r
    g_r = 4._wp * emis_surf * sigma_sb * tk**3 / (rho_air * cp_air)
    tcan = tk + (rn_can - le_can) / (rho_air * cp_air * (ga + g_r))
  end function canopy_temperature

end module dnb_energy
