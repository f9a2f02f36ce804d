! Solar geometry, direct/diffuse partitioning and canopy radiative transfer for PAR.
module dnb_radiation
  use dnb_kinds, only: wp
  use dnb_constants, only: pi, solar_const, nlayer
  implicit none
  private
  public :: solar_hour, solar_samples, solar_from_samples, diffuse_fraction, canopy_par, &
            fapar_white_sky, diffuse_transmission, white_sky_from

  ! rows of the solar samples (solar_samples)
  integer, parameter, public :: js_sin_decl = 1, js_cos_decl = 2, js_cos_ha0 = 3, &
                                js_sin_ha0 = 4, js_e0 = 5, nsolar = 5

  real(wp), parameter :: kd_black = 0.78_wp   ! diffuse extinction, spherical leaves (Goudriaan 1977)
  real(wp), parameter :: cosz_min = 0.05_wp   ! floor on cos(zenith) in the beam extinction

contains

  ! Hour-mean solar geometry for the hour that starts at hour_utc (h) of day doy.
  ! Declination, equation of time and eccentricity after Spencer (1971); the hour is sampled
  ! at six points so that sunrise and sunset hours get their share of daylight.
  ! Outputs: cosz_day, mean cos(zenith) over the sunlit part of the hour; s0, mean top-of-
  ! atmosphere irradiance on a horizontal plane (W m-2).
  ! In two steps: what does not depend on the place (solar_samples; the same for every cell
  ! of a run, so dnb_solar keeps it between calls) and the rest (solar_from_samples).
  subroutine solar_hour(doy, hour_utc, lat_deg, lon_deg, cosz_day, s0)
    integer, intent(in) :: doy
    real(wp), intent(in) :: hour_utc, lat_deg, lon_deg
    real(wp), intent(out) :: cosz_day, s0
    real(wp) :: smp(nsolar, 6)
    call solar_samples(doy, hour_utc, smp)
    call solar_from_samples(smp, lat_deg, lon_deg, cosz_day, s0)
  end subroutine solar_hour

  ! The six samples of the hour that starts at hour_utc of day doy: smp(:, k) holds the sine
  ! and cosine of the declination, the cosine and sine of the hour angle at longitude 0
  ! (from UTC and the equation of time) and the eccentricity factor.
  subroutine solar_samples(doy, hour_utc, smp)
    integer, intent(in) :: doy
    real(wp), intent(in) :: hour_utc
    real(wp), intent(out) :: smp(nsolar, 6)
    integer :: k
    real(wp) :: g, decl, eot, t, c1, s1, c2, s2, c3, s3, ha0
    do k = 1, 6
      t = hour_utc + (real(k, wp) - 0.5_wp) / 6._wp
      g = 2._wp * pi * (real(doy - 1, wp) + (t - 12._wp) / 24._wp) / 365._wp
      ! cos and sin of 2g and 3g from those of g (angle-sum identities; one sin/cos pair
      ! instead of three, equal to within rounding)
      c1 = cos(g)
      s1 = sin(g)
      c2 = c1 * c1 - s1 * s1
      s2 = 2._wp * s1 * c1
      c3 = c2 * c1 - s2 * s1
      s3 = s2 * c1 + c2 * s1
      decl = 0.006918_wp - 0.399912_wp * c1 + 0.070257_wp * s1 &
           - 0.006758_wp * c2 + 0.000907_wp * s2 &
           - 0.002697_wp * c3 + 0.00148_wp * s3
      eot = 229.18_wp * (0.000075_wp + 0.001868_wp * c1 - 0.032077_wp * s1 &
           - 0.014615_wp * c2 - 0.040849_wp * s2)   ! minutes
      smp(js_sin_decl, k) = sin(decl)
      smp(js_cos_decl, k) = cos(decl)
      ! hour angle at longitude 0: local apparent solar time t + eot/60 (h) from noon
      ha0 = (t + eot / 60._wp - 12._wp) * pi / 12._wp
      smp(js_cos_ha0, k) = cos(ha0)
      smp(js_sin_ha0, k) = sin(ha0)
      smp(js_e0, k) = 1.000110_wp + 0.034221_wp * c1 + 0.001280_wp * s1 &
                      + 0.000719_wp * c2 + 0.000077_wp * s2
    end do
  end subroutine solar_samples

  ! Hour-mean cos(zenith) and top-of-atmosphere irradiance (see solar_hour) at a place from
  ! the hour's samples: the hour angle there is ha0 + lon (angle sum).
  subroutine solar_from_samples(smp, lat_deg, lon_deg, cosz_day, s0)
    real(wp), intent(in) :: smp(nsolar, 6), lat_deg, lon_deg
    real(wp), intent(out) :: cosz_day, s0
    integer :: k
    real(wp) :: phi, lam, sin_phi, cos_phi, sin_lam, cos_lam, cz, csum, nsum, cos_ha
    phi = lat_deg * pi / 180._wp
    lam = lon_deg * pi / 180._wp
    sin_phi = sin(phi)
    cos_phi = cos(phi)
    sin_lam = sin(lam)
    cos_lam = cos(lam)
    csum = 0._wp
    nsum = 0._wp
    s0 = 0._wp
    do k = 1, 6
      cos_ha = smp(js_cos_ha0, k) * cos_lam - smp(js_sin_ha0, k) * sin_lam
      cz = sin_phi * smp(js_sin_decl, k) + cos_phi * smp(js_cos_decl, k) * cos_ha
      if (cz > 0._wp) then
        csum = csum + cz
        nsum = nsum + 1._wp
        s0 = s0 + solar_const * smp(js_e0, k) * cz / 6._wp
      end if
    end do
    if (nsum > 0._wp) then
      cosz_day = csum / nsum
    else
      cosz_day = 0._wp
    end if
  end subroutine solar_from_samples

  ! Diffuse fraction of global short-wave from the clearness index (Erbs et al. 1982).
  function diffuse_fraction(sw, s0) result(fd)
    real(wp), intent(in) :: sw, s0
    real(wp) :: fd, kt
    if (s0 <= 1._wp) then
      fd = 1._wp
      return
    end if
    kt = sw / s0
    if (kt <= 0.22_wp) then
      fd = 1._wp - 0.09_wp * kt
    else if (kt <= 0.80_wp) then
      fd = 0.9511_wp - 0.1604_wp * kt + 4.388_wp * kt**2 - 16.638_wp * kt**3 + 12.336_wp * kt**4
    else
      fd = 0.165_wp
    end if
  end function diffuse_fraction

  ! PAR absorbed by sunlit and shaded leaves of nlayer canopy layers of equal LAI, for unit
  ! incoming PAR above the canopy. Beam and diffuse light with scattering after Goudriaan &
  ! van Laar (1994) and de Pury & Farquhar (1997); one reflection at the soil, re-absorbed as
  ! diffuse light on the way up. The canopy covers fraction fc of the tile with leaf area
  ! lai/fc inside its cover (BETHY FAPARL). All outputs per unit tile area.
  !   lai (m2 m-2), fc, cosz, fdir (beam share of PAR), sigma_l (leaf scattering),
  !   rho_soil (soil PAR albedo) -> per leaf class j = 2 l - 1 (sunlit leaves of layer l)
  !   and j = 2 l (shaded leaves of layer l): abs_c(j) (absorbed, fraction of incoming) and
  !   lai_c(j) (m2 m-2); fapar (sum of absorbed), fsun (sunlit leaf fraction).
  !   (One array per quantity, indexed by leaf class, so that the tile's photosynthesis
  !   loops over the classes with whole-array statements: docs/performance.md.)
  ! The diffuse-light quantities that do not depend on the sun, t_d(0:nlayer) and rho_cd,
  ! come from diffuse_transmission (they change only with LAI, i.e. once a day).
  subroutine canopy_par(lai, fc, cosz, fdir, sigma_l, rho_soil, t_d, rho_cd, abs_c, lai_c, &
                        fapar, fsun)
    real(wp), intent(in) :: lai, fc, cosz, fdir, sigma_l, rho_soil, t_d(0:nlayer), rho_cd
    real(wp), intent(out) :: abs_c(2 * nlayer), lai_c(2 * nlayer)
    real(wp), intent(out) :: fapar, fsun
    real(wp) :: lc, kb, sq, kbs, rho_h, rho_cb, ib, id, dl
    real(wp) :: a_d, a_bt, a_bd, a_up, q, ls, down_soil, up_soil, cz, e_bs, e_b
    ! transmission of scattered-beam and black-leaf beam light down to each layer boundary:
    ! t_bs(k) = exp(-kbs k dl) etc. for k = 0 .. nlayer (computed once, so that the adjoint
    ! reads them back instead of re-evaluating each exponential)
    real(wp) :: t_bs(0:nlayer), t_b(0:nlayer)
    integer :: l
    lc = lai / fc
    cz = max(cosz, cosz_min)
    kb = 0.5_wp / cz
    sq = sqrt(1._wp - sigma_l)
    kbs = kb * sq
    rho_h = (1._wp - sq) / (1._wp + sq)
    rho_cb = 1._wp - exp(-2._wp * rho_h * kb / (1._wp + kb))
    ib = fdir
    id = 1._wp - fdir
    dl = lc / real(nlayer, wp)
    ! as integer powers of the one-layer transmissions: two exponentials instead of
    ! 2 nlayer, in the model and in the adjoint's reverse sweep (equal to within rounding;
    ! powers rather than a recurrence t(l) = t(l - 1) e, which the adjoint would store)
    e_bs = exp(-kbs * dl)
    e_b = exp(-kb * dl)
    t_bs(0) = 1._wp
    t_b(0) = 1._wp
    do l = 1, nlayer
      t_bs(l) = e_bs**l
      t_b(l) = e_b**l
    end do
    down_soil = ib * (1._wp - rho_cb) * t_bs(nlayer) + id * (1._wp - rho_cd) * t_d(nlayer)
    up_soil = rho_soil * down_soil
    fapar = 0._wp
    fsun = 0._wp
    do l = 1, nlayer
      a_d = id * (1._wp - rho_cd) * (t_d(l - 1) - t_d(l))
      a_bt = ib * (1._wp - rho_cb) * (t_bs(l - 1) - t_bs(l))
      a_bd = ib * (1._wp - sigma_l) * (t_b(l - 1) - t_b(l))
      ! soil-reflected diffuse light on its way up: from depth lc to the layer's bounds
      a_up = up_soil * (t_d(nlayer - l) - t_d(nlayer - l + 1))
      ls = (t_b(l - 1) - t_b(l)) / kb
      ! diffuse, scattered-beam and soil-reflected light per unit leaf area of the layer
      q = (a_d + (a_bt - a_bd) + a_up) / dl
      lai_c(2 * l - 1) = fc * ls
      lai_c(2 * l) = fc * (dl - ls)
      abs_c(2 * l - 1) = fc * (a_bd + q * ls)
      abs_c(2 * l) = fc * q * (dl - ls)
      fapar = fapar + abs_c(2 * l - 1) + abs_c(2 * l)
      fsun = fsun + lai_c(2 * l - 1)
    end do
    if (lai > 0._wp) then
      fsun = fsun / lai
    else
      fsun = 0._wp
    end if
  end subroutine canopy_par

  ! Diffuse-light quantities of a canopy that depend on its LAI but not on the sun (so a
  ! tile computes them once a day): the canopy reflectance for diffuse light rho_cd, the
  ! transmission t_d(k) = exp(-kds k dl) of diffuse light down to each layer boundary
  ! k = 0 .. nlayer (dl = LAI / fc / nlayer), and that of the whole canopy, t_all =
  ! exp(-kds LAI / fc) (for the white-sky FAPAR). Arguments as for canopy_par.
  subroutine diffuse_transmission(lai, fc, sigma_l, t_d, rho_cd, t_all)
    real(wp), intent(in) :: lai, fc, sigma_l
    real(wp), intent(out) :: t_d(0:nlayer), rho_cd, t_all
    real(wp) :: lc, sq, kds, rho_h, dl
    integer :: l
    lc = lai / fc
    sq = sqrt(1._wp - sigma_l)
    kds = kd_black * sq
    rho_h = (1._wp - sq) / (1._wp + sq)
    rho_cd = 1._wp - exp(-2._wp * rho_h * kd_black / (1._wp + kd_black))
    dl = lc / real(nlayer, wp)
    t_d(0) = 1._wp
    do l = 1, nlayer
      t_d(l) = exp(-kds * dl * real(l, wp))
    end do
    t_all = exp(-kds * lc)
  end subroutine diffuse_transmission

  ! White-sky (isotropic diffuse illumination) FAPAR of the tile, the quantity that JRC-TIP
  ! derives from bi-hemispherical albedo (science.md section 0).
  function fapar_white_sky(lai, fc, sigma_l, rho_soil) result(fapar)
    real(wp), intent(in) :: lai, fc, sigma_l, rho_soil
    real(wp) :: fapar, lc, sq, kds, rho_h, rho_cd, trans
    lc = lai / fc
    sq = sqrt(1._wp - sigma_l)
    kds = kd_black * sq
    rho_h = (1._wp - sq) / (1._wp + sq)
    rho_cd = 1._wp - exp(-2._wp * rho_h * kd_black / (1._wp + kd_black))
    trans = exp(-kds * lc)
    fapar = white_sky_from(fc, rho_cd, trans, rho_soil)
  end function fapar_white_sky

  ! White-sky FAPAR from the diffuse quantities of diffuse_transmission (rho_cd, trans =
  ! t_all): what fapar_white_sky computes, for a tile whose LAI has not changed.
  function white_sky_from(fc, rho_cd, trans, rho_soil) result(fapar)
    real(wp), intent(in) :: fc, rho_cd, trans, rho_soil
    real(wp) :: fapar
    fapar = fc * (1._wp - rho_cd) * (1._wp - trans) * (1._wp + rho_soil * trans)
  end function white_sky_from

end module dnb_radiation
