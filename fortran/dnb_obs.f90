! Observation operators of D&B, sampled "on the swath": each observation is simulated over
! its own integration window (hourly steps s0..s1 of the run) and its own footprint (weights
! of the cell's PFT tiles, which differ from the cell cover and between sensors); see
! science.md sections 0 and 6. The per-tile quantities come from the hourly model output
! (dnb_model), so y = H(M(x)) is one pass over the run.
module dnb_obs
  use dnb_kinds, only: wp
  use dnb_constants, only: pi
  use dnb_params
  use dnb_smooth, only: smin_pos
  implicit none
  private
  public :: apply_obs, obs_layout, mironov_permittivity, fresnel_reflectivity, tau_omega, &
            water_cloud

  ! hourly variables the operators read (obs_layout)
  integer, parameter, public :: nobscol = 11
  ! ASCAT reference incidence angle (deg): sigma40 and slope are taken there
  real(wp), parameter, public :: theta_ascat = 40._wp

  real(wp), parameter :: f_lband = 1.4135e9_wp     ! Hz, SMOS L-band centre frequency
  real(wp), parameter :: eps_vac = 8.854e-12_wp    ! F m-1

contains

  ! Simulated observations y(nobs). stream(k): code ios_* of observation k; s0(k), s1(k):
  ! first and last hourly step of its window (1-based, inclusive); wfoot(k, tile): footprint
  ! weight of each tile; angle(k): incidence angle (deg) for brightness temperatures;
  ! hout(ncol, nt, ntile): hourly model output, variable v in row colpos(v); clay: clay mass fraction of the cell's soil.
  ! Each tile's observable is averaged over the window, then tiles are summed with the
  ! footprint weights (for TB the window-mean state enters the tau-omega model per tile).
  ! ASCAT sigma40 (dB) and slope (dB deg-1): the window-mean surface soil moisture and
  ! vegetation water content of each tile enter the water-cloud model at 40 deg; the linear
  ! backscatter and its angular derivative are averaged over the footprint (weights
  ! normalised to the modelled part) before the conversion to dB. angle(k) is not used:
  ! the products are normalised to 40 deg.
  subroutine apply_obs(nt, ntile, nobs, stream, s0, s1, wfoot, angle, ncol, colpos, hout, &
                       clay, pglob, y)
    integer, intent(in) :: nt, ntile, nobs, ncol
    integer, intent(in) :: stream(nobs), s0(nobs), s1(nobs), colpos(nho)
    real(wp), intent(in) :: wfoot(nobs, ntile), angle(nobs), hout(ncol, nt, ntile), clay
    real(wp), intent(in) :: pglob(ngp)
    real(wp), intent(out) :: y(nobs)
    integer :: k, i, it, col
    real(wp) :: nh, q, sm, ts, tc, tau, eps_r, eps_i, rh, rv, vwc, sig, dsig, sum_s, sum_ds
    real(wp) :: wsum
    do k = 1, nobs
      y(k) = 0._wp
      nh = real(s1(k) - s0(k) + 1, wp)
      ! ASCAT: footprint sums of the linear backscatter and of its angular derivative
      sum_s = 0._wp
      sum_ds = 0._wp
      wsum = 0._wp
      do i = 1, ntile
        if (wfoot(k, i) > 0._wp) then
          if (stream(k) == ios_sigma40 .or. stream(k) == ios_slope) then
            sm = 0._wp
            vwc = 0._wp
            do it = s0(k), s1(k)
              sm = sm + hout(colpos(ih_sm_surf), it, i)
              vwc = vwc + hout(colpos(ih_vwc), it, i)
            end do
            call water_cloud(theta_ascat, sm / nh, vwc / nh, pglob(ig_wcm_a), pglob(ig_wcm_b), &
                             pglob(ig_wcm_c), pglob(ig_wcm_d), pglob(ig_wcm_n), sig, dsig)
            sum_s = sum_s + wfoot(k, i) * sig
            sum_ds = sum_ds + wfoot(k, i) * dsig
            wsum = wsum + wfoot(k, i)
            q = 0._wp
          else if (stream(k) == ios_tb_h .or. stream(k) == ios_tb_v) then
            sm = 0._wp
            ts = 0._wp
            tc = 0._wp
            tau = 0._wp
            do it = s0(k), s1(k)
              sm = sm + hout(colpos(ih_sm_surf), it, i)
              ts = ts + hout(colpos(ih_tsoil1), it, i)
              tc = tc + hout(colpos(ih_tcan), it, i)
              tau = tau + hout(colpos(ih_vod), it, i)
            end do
            call mironov_permittivity(sm / nh, clay, eps_r, eps_i)
            call fresnel_reflectivity(eps_r, eps_i, angle(k), rh, rv)
            if (stream(k) == ios_tb_h) then
              q = tau_omega(rh, pglob(ig_tb_hr), angle(k), ts / nh, tc / nh, tau / nh, &
                            pglob(ig_tb_omega))
            else
              q = tau_omega(rv, pglob(ig_tb_hr), angle(k), ts / nh, tc / nh, tau / nh, &
                            pglob(ig_tb_omega))
            end if
          else
            col = colpos(obs_column(stream(k)))
            q = 0._wp
            do it = s0(k), s1(k)
              q = q + hout(col, it, i)
            end do
            q = q / nh
            ! carbon fluxes: g m-2 h-1 -> g m-2 d-1
            if (stream(k) == ios_nee .or. stream(k) == ios_gpp) q = 24._wp * q
          end if
          y(k) = y(k) + wfoot(k, i) * q
        end if
      end do
      ! backscatter combines over the footprint in power units (m2 m-2), normalised by the
      ! modelled part of the footprint; then dB (sigma40) or the dB slope at 40 deg, which
      ! is d(10 log10 sigma)/d theta = (10 / ln 10) (d sigma / d theta) / sigma.
      ! 10 log10 is written (10 / ln 10) ln: Tapenade differentiates log10 with a
      ! single-precision ln(10.0), a relative error of 1e-8 in the derivatives
      if (wsum > 0._wp) then
        if (stream(k) == ios_sigma40) y(k) = 10._wp / log(10._wp) * log(sum_s / wsum)
        if (stream(k) == ios_slope) y(k) = 10._wp / log(10._wp) * sum_ds / sum_s
      end if
    end do
  end subroutine apply_obs

  ! The compact layout of the hourly output for the derivative path: the nobscol variables
  ! the operators read, in rows 1..nobscol; colpos(v) = 0 for the others.
  subroutine obs_layout(colpos)
    integer, intent(out) :: colpos(nho)
    colpos = 0
    colpos(ih_sif) = 1
    colpos(ih_vod) = 2
    colpos(ih_sm_surf) = 3
    colpos(ih_fapar_ws) = 4
    colpos(ih_nee) = 5
    colpos(ih_gpp) = 6
    colpos(ih_le) = 7
    colpos(ih_agb) = 8
    colpos(ih_tsoil1) = 9
    colpos(ih_tcan) = 10
    colpos(ih_vwc) = 11
  end subroutine obs_layout

  ! Hourly output variable that a linear stream averages.
  integer function obs_column(code)
    integer, intent(in) :: code
    obs_column = ih_gpp
    if (code == ios_sif) obs_column = ih_sif
    if (code == ios_vod) obs_column = ih_vod
    if (code == ios_sm) obs_column = ih_sm_surf
    if (code == ios_fapar) obs_column = ih_fapar_ws
    if (code == ios_nee) obs_column = ih_nee
    if (code == ios_gpp) obs_column = ih_gpp
    if (code == ios_le) obs_column = ih_le
    if (code == ios_agb) obs_column = ih_agb
  end function obs_column

  ! Relative permittivity eps_r + i eps_i of moist soil at L-band, Mironov et al. (2009,
  ! IEEE TGRS 47, 2059) mineralogy-based model, eqs 11-13 and 17-25: refractive mixing of
  ! dry soil, bound and free water (Debye relaxation each). sm (m3 m-3), clay (mass
  ! fraction). The switch from bound to free water at mv_t is smoothed over 0.005 m3 m-3.
  subroutine mironov_permittivity(sm, clay, eps_r, eps_i)
    real(wp), intent(in) :: sm, clay
    real(wp), intent(out) :: eps_r, eps_i
    real(wp) :: c, nd, kd, mvt, e0b, taub, sigb, sigu, e0u, tauu, einf, w
    real(wp) :: eb_r, eb_i, eu_r, eu_i, nb, kb, nu, ku, mb, mu, nm, km
    c = 100._wp * clay
    nd = 1.634_wp - 0.539e-2_wp * c + 0.2748e-4_wp * c * c
    kd = 0.03952_wp - 0.04038e-2_wp * c
    mvt = 0.02863_wp + 0.30673e-2_wp * c
    e0b = 79.8_wp - 85.4e-2_wp * c + 32.7e-4_wp * c * c
    taub = 1.062e-11_wp + 3.450e-12_wp * 1.e-2_wp * c
    sigb = 0.3112_wp + 0.467e-2_wp * c
    sigu = 0.3631_wp + 1.217e-2_wp * c
    e0u = 100._wp
    tauu = 8.5e-12_wp
    einf = 4.9_wp
    w = 2._wp * pi * f_lband
    eb_r = einf + (e0b - einf) / (1._wp + (w * taub)**2)
    eb_i = (e0b - einf) * w * taub / (1._wp + (w * taub)**2) + sigb / (w * eps_vac)
    eu_r = einf + (e0u - einf) / (1._wp + (w * tauu)**2)
    eu_i = (e0u - einf) * w * tauu / (1._wp + (w * tauu)**2) + sigu / (w * eps_vac)
    call refractive_index(eb_r, eb_i, nb, kb)
    call refractive_index(eu_r, eu_i, nu, ku)
    mb = smin_pos(sm, mvt, 0.999_wp)                    ! bound water, <= mv_t
    mu = sm - mb                                        ! free water
    nm = nd + (nb - 1._wp) * mb + (nu - 1._wp) * mu
    km = kd + kb * mb + ku * mu
    eps_r = nm * nm - km * km
    eps_i = 2._wp * nm * km
  end subroutine mironov_permittivity

  ! Refractive index n + i k of a medium with relative permittivity er + i ei.
  subroutine refractive_index(er, ei, n, k)
    real(wp), intent(in) :: er, ei
    real(wp), intent(out) :: n, k
    real(wp) :: a
    a = sqrt(er * er + ei * ei)
    n = sqrt(0.5_wp * (a + er))
    k = sqrt(0.5_wp * (a - er))
  end subroutine refractive_index

  ! Fresnel reflectivities (H, V) of a smooth surface of permittivity er + i ei at incidence
  ! angle theta (deg), in real arithmetic: s = sqrt(eps - sin^2), r_H = |(c - s)/(c + s)|^2,
  ! r_V = |(eps c - s)/(eps c + s)|^2 (Ulaby & Long 2014, eqs 2.96-2.97).
  subroutine fresnel_reflectivity(er, ei, theta, rh, rv)
    real(wp), intent(in) :: er, ei, theta
    real(wp), intent(out) :: rh, rv
    real(wp) :: c, s2, zr, zi, a, p, q
    c = cos(theta * pi / 180._wp)
    s2 = 1._wp - c * c
    zr = er - s2
    zi = ei
    a = sqrt(zr * zr + zi * zi)
    p = sqrt(0.5_wp * (a + zr))
    q = sqrt(0.5_wp * (a - zr))
    rh = ((c - p)**2 + q * q) / ((c + p)**2 + q * q)
    rv = ((er * c - p)**2 + (ei * c - q)**2) / ((er * c + p)**2 + (ei * c + q)**2)
  end subroutine fresnel_reflectivity

  ! Tau-omega brightness temperature (K) of one polarisation (Mo et al. 1982): soil
  ! reflectivity r_smooth reduced by roughness exp(-H_R cos^2 theta) (Wang & Choudhury
  ! 1981), soil and canopy temperatures ts, tc (K), optical depth tau at nadir, single
  ! scattering albedo omega; gamma = exp(-tau / cos theta).
  function tau_omega(r_smooth, h_r, theta, ts, tc, tau, omega) result(tb)
    real(wp), intent(in) :: r_smooth, h_r, theta, ts, tc, tau, omega
    real(wp) :: tb, c, r, gam
    c = cos(theta * pi / 180._wp)
    r = r_smooth * exp(-h_r * c * c)
    gam = exp(-tau / c)
    tb = ts * (1._wp - r) * gam + tc * (1._wp - omega) * (1._wp - gam) * (1._wp + r * gam)
  end function tau_omega

  ! C-band (ASCAT, 5.255 GHz, VV) backscatter of one tile from the water-cloud model (Attema
  ! & Ulaby 1978) in the form of docs/science/ascat.md: a canopy of vegetation water content
  ! vwc (kg m-2) scatters a_veg cos(theta) (1 - t2) and attenuates the soil's backscatter by
  ! the two-way transmissivity t2 = exp(-2 b_veg vwc / cos(theta)); the soil backscatter is
  ! c_soil + d_soil sm (dB) at 40 deg (Ulaby et al. 1978: linear in dB with soil moisture
  ! sm, m3 m-3) and falls off with incidence as (cos(theta) / cos(40 deg))**n_soil (n_soil =
  ! 2: a Lambertian surface; smoother soils fall off faster, larger n_soil).
  ! sig: sigma0 (m2 m-2, linear, > 0); dsig: d sig / d theta (per degree), analytic.
  subroutine water_cloud(theta, sm, vwc, a_veg, b_veg, c_soil, d_soil, n_soil, sig, dsig)
    real(wp), intent(in) :: theta, sm, vwc, a_veg, b_veg, c_soil, d_soil, n_soil
    real(wp), intent(out) :: sig, dsig
    real(wp) :: rad, c, s, t2, dt2, sg, dsg, c40, att
    rad = pi / 180._wp
    c = cos(theta * rad)
    s = sin(theta * rad)
    c40 = cos(theta_ascat * rad)
    att = 2._wp * b_veg * vwc
    t2 = exp(-att / c)
    dt2 = -att * s / (c * c) * t2                              ! d t2 / d theta (per rad)
    sg = exp(0.1_wp * log(10._wp) * (c_soil + d_soil * sm) + n_soil * log(c / c40))
    dsg = -n_soil * s / c * sg
    sig = a_veg * c * (1._wp - t2) + t2 * sg
    dsig = (-a_veg * s * (1._wp - t2) + (sg - a_veg * c) * dt2 + t2 * dsg) * rad
  end subroutine water_cloud

end module dnb_obs
