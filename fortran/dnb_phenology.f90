! Leaf phenology of D&B: DALEC2 labile-release and leaf-fall factors (Bloom & Williams 2015,
! CARDAMOM DALEC_CDEA; docs/science/phenology.md). LAI = C_fol / LMA is set by dnb_model.
! What the day parameters are: d_onset (p12) and d_fall (p15) are not the days on which the
! pulses peak. The pulse is shifted by pulse_offset, which depends on the period and the
! magnitude, so the peak comes later than the parameter day: 0.625 cr_onset for labile
! release (19-46 days for cr_onset 30-74 d), and for leaf fall 0.53 cr_fall with annual
! leaves (leaf_life 1.01) down to 0.06 cr_fall for leaf_life 4 (tccas.phenology.pulse_peak_lag
! computes it).
module dnb_phenology
  use dnb_kinds, only: wp
  use dnb_constants, only: pi
  implicit none
  private
  public :: leaf_fall_factor, labile_release_factor

  real(wp), parameter :: year_len = 365.25_wp

contains

  ! Offset that centres the annual pulse: w * P6(ln(L - 1)), P6 the sixth-order polynomial
  ! fit of Bloom & Williams (2015) to the solution of t = f exp(-t**2).
  function pulse_offset(l, w) result(off)
    real(wp), intent(in) :: l, w
    real(wp) :: off, x
    x = log(l - 1._wp)
    off = w * (((((( 2.359978471e-5_wp * x + 3.32730053021e-4_wp) * x + 9.01865258885e-4_wp) * x &
          - 5.437736864888e-3_wp) * x - 2.0836027517787e-2_wp) * x + 1.26972018064287e-1_wp) * x &
          - 1.88459767342504e-1_wp)
  end function pulse_offset

  ! Annual Gaussian-like pulse (d-1) with magnitude m, width w (d) and peak day d_peak.
  function annual_pulse(t, d_peak, l, w, m) result(phi)
    real(wp), intent(in) :: t, d_peak, l, w, m
    real(wp) :: phi, sf, arg
    sf = year_len / pi
    arg = sin((t - d_peak + pulse_offset(l, w)) / sf) * sf / w
    phi = 2._wp / sqrt(pi) * (m / w) * exp(-arg * arg)
  end function annual_pulse

  ! Leaf-fall factor phi_f (d-1) at day t (days since 1 January of the first year):
  ! a yearly pulse that removes the fraction 1/leaf_life of the foliage per year.
  ! leaf_life p5 (yr, > 1), d_fall p15 (day of year), cr_fall p16 (d).
  function leaf_fall_factor(t, leaf_life, d_fall, cr_fall) result(phi)
    real(wp), intent(in) :: t, leaf_life, d_fall, cr_fall
    real(wp) :: phi, w, m
    w = cr_fall * sqrt(2._wp) / 2._wp
    m = 0.5_wp * (log(leaf_life) - log(leaf_life - 1._wp))
    phi = annual_pulse(t, d_fall, leaf_life, w, m)
  end function leaf_fall_factor

  ! Labile-release factor phi_o (d-1): a yearly pulse that releases 99.9 % of the labile pool
  ! to foliage. d_onset p12 (day of year), cr_onset p14 (d).
  function labile_release_factor(t, d_onset, cr_onset) result(phi)
    real(wp), intent(in) :: t, d_onset, cr_onset
    real(wp) :: phi, w, m
    w = cr_onset * sqrt(2._wp) / 2._wp
    m = 0.5_wp * (log(1.001_wp) - log(0.001_wp))
    phi = annual_pulse(t, d_onset, 1.001_wp, w, m)
  end function labile_release_factor

end module dnb_phenology
