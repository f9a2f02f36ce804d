! Soil water in two layers, interception, snow and soil temperature (BETHY heritage, hourly;
! science.md sections 0 and 5). Every routine computes its fluxes first and updates the
! stores with exactly those fluxes, so the water balance closes to rounding error.
module dnb_hydrology
  use dnb_kinds, only: wp
  use dnb_constants, only: pi, z_surf, dt_hour, rho_w, cp_air, emis_surf, sigma_sb
  use dnb_smooth, only: smin_pos, smax0, softplus
  implicit none
  private
  public :: soil_hydraulics, rel_water, interception, snow_step, soil_water_step, &
            soil_temperature_step

  ! indices of the soil-hydraulic array filled by soil_hydraulics
  integer, parameter, public :: ish_b = 1, ish_theta_sat = 2, ish_ksat = 3, ish_theta_fc = 4, &
                                ish_theta_wp = 5, nsh = 5

contains

  ! Soil hydraulic properties from texture, Cosby et al. (1984) regressions with the
  ! Campbell (1974) retention curve. sand, clay: mass fractions (0-1).
  ! Outputs sh(ish_b) Campbell b (-), theta_sat, theta_fc (at 33 kPa), theta_wp (at 1.5 MPa)
  ! in m3 m-3 and ksat in mm h-1.
  subroutine soil_hydraulics(sand, clay, sh)
    real(wp), intent(in) :: sand, clay
    real(wp), intent(out) :: sh(nsh)
    real(wp) :: sa, cl, si, psi_sat
    sa = 100._wp * sand
    cl = 100._wp * clay
    si = 100._wp - sa - cl
    sh(ish_b) = 3.10_wp + 0.157_wp * cl - 0.003_wp * sa
    psi_sat = 0.01_wp * 10._wp**(1.54_wp - 0.0095_wp * sa + 0.0063_wp * si)   ! m of suction
    sh(ish_theta_sat) = 0.505_wp - 0.00142_wp * sa - 0.00037_wp * cl
    sh(ish_ksat) = 25.4_wp * 10._wp**(-0.60_wp + 0.0126_wp * sa - 0.0064_wp * cl)
    sh(ish_theta_fc) = sh(ish_theta_sat) * (3.3_wp / psi_sat)**(-1._wp / sh(ish_b))
    sh(ish_theta_wp) = sh(ish_theta_sat) * (150._wp / psi_sat)**(-1._wp / sh(ish_b))
  end subroutine soil_hydraulics

  ! Relative plant-available water (0 at wilting point, 1 at field capacity), smoothly
  ! bounded to [0, 1], of a layer with volumetric water content theta (m3 m-3).
  function rel_water(theta, sh) result(r)
    real(wp), intent(in) :: theta, sh(nsh)
    real(wp) :: r
    r = (theta - sh(ish_theta_wp)) / (sh(ish_theta_fc) - sh(ish_theta_wp))
    r = smin_pos(smax0(r, 0.02_wp), 1._wp, 0.999_wp)
  end function rel_water

  ! Canopy interception for one hour (BETHY form, Knorr 1997): a fraction
  ! fc (1 - exp(-0.5 LAI/fc)) of rain is intercepted into a store of capacity 0.1 mm per unit
  ! LAI, the excess drips, the wet part evaporates at the wet-canopy rate.
  ! All amounts in mm over the hour. w_can is updated in place. e_half = exp(-0.5 LAI/fc)
  ! (computed once a day by the tile).
  subroutine interception(rain, lai, fc, e_half, e_pc, w_can, e_int, throughfall)
    real(wp), intent(in) :: rain, lai, fc, e_half, e_pc
    real(wp), intent(inout) :: w_can
    real(wp), intent(out) :: e_int, throughfall
    real(wp) :: f_int, cap, w0, w, drip, f_wet
    f_int = fc * (1._wp - e_half)
    cap = 0.1_wp * lai + 1.e-6_wp
    w0 = w_can + f_int * rain
    drip = w0 - smin_pos(w0, cap, 0.999_wp)
    w = w0 - drip
    f_wet = w / cap              ! < 1: after the drip the store is below its capacity
    e_int = smin_pos(e_pc * f_wet, w, 0.999_wp)
    w_can = w - e_int
    throughfall = rain - f_int * rain + drip
    ! a store that has dried to below 1e-12 mm is empty (keeps subnormal numbers out of the
    ! derivative codes; the water moves to throughfall so the balance still closes)
    if (w_can < 1.e-12_wp) then
      throughfall = throughfall + w_can
      w_can = 0._wp
    end if
  end subroutine interception

  ! Snow pack for one hour (BETHY snow scheme, Knorr 1997, per hour): snowfall share of
  ! precipitation clip((3.3 - T)/4.4, 0, 1); degree-day melt; sublimation at the potential
  ! rate on the snow-covered part; fresh-snow density and compaction; albedo refresh and
  ! ageing. Amounts in mm over the hour; ddf in mm d-1 degC-1.
  ! Outputs: rain (mm), melt (mm), sublim (mm), f_cover (snow-covered fraction of the ground).
  subroutine snow_step(tc, precip, e_pot, ddf, snow, rho_sn, alb_sn, rain, melt, sublim, f_cover)
    real(wp), intent(in) :: tc, precip, e_pot, ddf
    real(wp), intent(inout) :: snow, rho_sn, alb_sn
    real(wp), intent(out) :: rain, melt, sublim, f_cover
    real(wp) :: fs, snowfall, rho0, total, depth_new, rho_mix
    fs = (3.3_wp - tc) / 4.4_wp
    if (fs < 0._wp) fs = 0._wp
    if (fs > 1._wp) fs = 1._wp
    snowfall = fs * precip
    rain = precip - snowfall
    ! density of fresh snow (BETHY)
    if (tc < -15._wp) then
      rho0 = 10._wp + 2.667_wp * (tc + 30._wp)
    else
      ! (tc + 15)**1.5 as x sqrt(x): a pow costs about 100 instructions, every hour
      ! (equal to within rounding)
      rho0 = 50._wp + 1.7_wp * ((tc + 15._wp) * sqrt(tc + 15._wp))
    end if
    if (rho0 < 30._wp) rho0 = 30._wp
    total = snow + snowfall
    if (snow <= 0._wp .and. snowfall <= 0._wp) then
      ! a snow-free hour: nothing covers, sublimates or melts, and the pack density is that
      ! of fresh snow; exactly what the general case below gives when the pack and the
      ! snowfall are zero (and so are their derivatives: the pack is set to an exact zero
      ! when it melts, the snowfall comes from the forcing), at a fraction of its cost
      f_cover = 0._wp
      sublim = 0._wp
      melt = 0._wp
      rho_sn = rho0
    else
      f_cover = snow / (snow + 5._wp)
      sublim = smin_pos(e_pot * f_cover, total, 0.999_wp)
      melt = smin_pos(ddf / 24._wp * softplus(tc, 0.5_wp), total - sublim, 0.999_wp)
      ! fresh snow mixed into the pack, then compaction
      if (total > 1.e-9_wp) then
        rho_mix = (rho_sn * snow + rho0 * snowfall) / total
      else
        rho_mix = rho0
      end if
      rho_sn = rho_mix * (1._wp + 0.0229_wp / 24._wp * exp(-0.021_wp * rho_mix + 0.08_wp * tc) &
               * 0.5_wp * total)
    end if
    if (rho_sn > 550._wp) rho_sn = 550._wp
    ! albedo: +10 per metre of new snow, at most 0.8; ageing per hour
    depth_new = snowfall / rho0
    alb_sn = alb_sn + 10._wp * depth_new
    if (alb_sn > 0.8_wp) alb_sn = 0.8_wp
    if (tc > 0._wp) then
      alb_sn = alb_sn - 0.071_wp / 24._wp
    else
      alb_sn = alb_sn - 0.006_wp / 24._wp
    end if
    if (alb_sn < 0.4_wp) alb_sn = 0.4_wp
    snow = total - sublim - melt
    ! a pack below 1e-12 mm has melted (as for the canopy store: no subnormal numbers)
    if (snow < 1.e-12_wp) then
      melt = melt + snow
      snow = 0._wp
    end if
  end subroutine snow_step

  ! Two-layer soil water for one hour. Surface layer of depth z_surf (SMOS sensing depth) and
  ! root zone of depth zroot (m). Water input (throughfall + melt, mm) infiltrates up to the
  ! saturated conductivity and the free pore space (less when the soil is frozen); the rest
  ! runs off. Bare-soil evaporation from the surface layer, transpiration from the root zone,
  ! gravity drainage with the Campbell conductivity K = ksat (theta/theta_sat)**(2b+3) from
  ! the surface to the root zone and out of the root zone.
  ! Amounts in mm over the hour; w_s, w_r (mm) updated in place.
  subroutine soil_water_step(w_in, e_soil_pot, trans, sh, zroot, ksat_scale, f_thaw, &
                             w_s, w_r, infl, runoff, e_soil, perc, drain)
    real(wp), intent(in) :: w_in, e_soil_pot, trans, sh(nsh), zroot, ksat_scale, f_thaw
    real(wp), intent(inout) :: w_s, w_r
    real(wp), intent(out) :: infl, runoff, e_soil, perc, drain
    real(wp) :: ws_sat, wr_sat, ws_fc, ws_res, wr_res, ksat, icap, beta_s, expo
    real(wp) :: q_in, room_s, lim_in, ws1, wet, e_dem, avail_e, lim_e, ws2, q_s, avail_p
    real(wp) :: lim_p, perc1, room_r, lim_r, wr1, q_r, avail_d, lim_d
    ! transition width (mm) of the smooth limits at residual water and saturation: 0.1 mm,
    ! negligible as water, but wide enough that the limits are not sharper than the steps an
    ! assimilation takes (with 0.01 mm a surface layer dried to its residual made the
    ! model's response curve within 1e-4 prior sigma and broke the Taylor test)
    real(wp), parameter :: w_smooth = 0.1_wp
    ws_sat = sh(ish_theta_sat) * z_surf * rho_w
    wr_sat = sh(ish_theta_sat) * zroot * rho_w
    ws_fc = sh(ish_theta_fc) * z_surf * rho_w
    ws_res = 0.3_wp * sh(ish_theta_wp) * z_surf * rho_w
    wr_res = 0.3_wp * sh(ish_theta_wp) * zroot * rho_w
    ksat = sh(ish_ksat) * ksat_scale
    expo = 2._wp * sh(ish_b) + 3._wp
    ! Every intermediate below has a name of its own and is assigned once (the layers'
    ! water after each step too): reusing names made the adjoint store each overwritten
    ! value (docs/performance.md). The expressions are those of the model equations.
    ! infiltration and runoff
    q_in = ksat * (0.05_wp + 0.95_wp * f_thaw)
    room_s = ws_sat - w_s
    lim_in = smax0(room_s, w_smooth)
    icap = smin_pos(q_in, lim_in, 0.999_wp)
    infl = smin_pos(w_in, icap, 0.999_wp)
    runoff = w_in - infl
    ws1 = w_s + infl
    ! bare-soil evaporation, linear in surface wetness up to field capacity
    wet = ws1 / ws_fc
    beta_s = smin_pos(wet, 1._wp, 0.999_wp)
    e_dem = e_soil_pot * beta_s
    avail_e = ws1 - ws_res
    lim_e = smax0(avail_e, w_smooth)
    e_soil = smin_pos(e_dem, lim_e, 0.999_wp)
    ws2 = ws1 - e_soil
    ! percolation to the root zone, linearised backward Euler so that the stiff gravity
    ! drainage of the thin surface layer stays stable (K' = expo K / w per hour), limited by
    ! the water above residual and the space below
    q_s = gravity_drainage(ws2, ws_sat, ksat, expo)
    avail_p = ws2 - ws_res
    lim_p = smax0(avail_p, w_smooth)
    perc1 = smin_pos(q_s, lim_p, 0.999_wp)
    room_r = wr_sat - w_r
    lim_r = smax0(room_r, w_smooth)
    perc = smin_pos(perc1, lim_r, 0.999_wp)
    w_s = ws2 - perc
    ! root zone: transpiration (already supply-limited) and drainage
    wr1 = w_r + perc - trans
    q_r = gravity_drainage(wr1, wr_sat, ksat, expo)
    avail_d = wr1 - wr_res
    lim_d = smax0(avail_d, w_smooth)
    drain = smin_pos(q_r, lim_d, 0.999_wp)
    w_r = wr1 - drain
  end subroutine soil_water_step

  ! Gravity drainage (mm over one hour) of a layer holding w (mm) of at most w_sat, with the
  ! Campbell conductivity K(w) = ksat (w / w_sat)**expo (mm h-1), in linearised backward
  ! Euler form K / (1 + dK/dw * 1 h): explicit Euler is unstable once dK/dw exceeds 2 per
  ! hour, which a 5-cm layer of sandy soil reaches long before saturation.
  function gravity_drainage(w, w_sat, ksat, expo) result(q)
    real(wp), intent(in) :: w, w_sat, ksat, expo
    real(wp) :: q, k
    ! (w / w_sat)**expo as exp(expo ln(w / w_sat)): an exp and a log cost a third of a
    ! pow, here and in the derivative codes (w > 0: the layers keep their residual water)
    k = ksat * exp(expo * log(w / w_sat))
    q = k / (1._wp + expo * k / w)
  end function gravity_drainage

  ! Force-restore soil temperature (Deardorff 1978; Noilhan & Planton 1989) for one hour:
  ! dT1/dt = sqrt(2 omega / (lambda_s C)) G - omega (T1 - T2). The ground heat flux G is what
  ! is left of the soil's net radiation after evaporation and the heat exchange with the
  ! canopy air, G = Rn_s - LE_s - rho cp (g_s + g_r) (T1 - T_a), with a fixed soil-to-air
  ! conductance g_s and the radiative conductance g_r; T1 is implicit in that term. The deep
  ! layer T2 is coupled to T1 and restored to the deep-soil forcing t_deep over 5 days.
  ! Heat capacity and conductivity follow the surface water content theta (m3 m-3).
  ! rn_soil, le_soil (W m-2); temperatures in K (t1, t2 updated); g_flux (W m-2, into soil).
  subroutine soil_temperature_step(rn_soil, le_soil, ta, rho_air, theta, sh, t_deep, t1, t2, &
                                   g_flux)
    real(wp), intent(in) :: rn_soil, le_soil, ta, rho_air, theta, sh(nsh), t_deep
    real(wp), intent(inout) :: t1, t2
    real(wp), intent(out) :: g_flux
    real(wp), parameter :: g_soil_air = 0.01_wp    ! m s-1, soil surface to canopy air
    real(wp) :: omega, c_soil, lam_s, ct, tau2, kh
    omega = 2._wp * pi / 86400._wp
    c_soil = 2.0e6_wp * (1._wp - sh(ish_theta_sat)) + 4.18e6_wp * theta
    lam_s = 0.25_wp + 1.5_wp * theta / sh(ish_theta_sat)
    ct = sqrt(2._wp * omega / (lam_s * c_soil))
    kh = rho_air * cp_air * g_soil_air + 4._wp * emis_surf * sigma_sb * ta**3
    tau2 = 5._wp * 86400._wp
    t1 = (t1 + dt_hour * (ct * (rn_soil - le_soil + kh * ta) + omega * t2)) &
         / (1._wp + dt_hour * (omega + ct * kh))
    g_flux = rn_soil - le_soil - kh * (t1 - ta)
    t2 = (t2 + dt_hour * (t1 + t_deep) / tau2) / (1._wp + 2._wp * dt_hour / tau2)
  end subroutine soil_temperature_step

end module dnb_hydrology
