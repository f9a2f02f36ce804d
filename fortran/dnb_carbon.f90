! DALEC2 carbon pools for one day (Bloom & Williams 2015; CARDAMOM DALEC_CDEA flux layout;
! science.md section 2). GPP comes from BETHY photosynthesis. Heterotrophic respiration is
! temperature (exp(p10 T)) and moisture dependent; the daily rate modifiers are means of the
! hourly ones so that hourly and daily fluxes agree exactly.
module dnb_carbon
  use dnb_kinds, only: wp
  implicit none
  private
  public :: dalec_day

  integer, parameter, public :: npool = 6, nflux = 16

contains

  ! One explicit daily step of the six pools (gC m-2): labile, foliar, root, wood, litter, SOM.
  ! Inputs: gpp (gC m-2 d-1), temprate = daily mean of exp(p10 T) (-), resprate = daily
  ! mean of exp(p10 T) * moisture modifier (-), phi_f, phi_o (d-1), and the DALEC2 rates.
  ! Outputs the 16 fluxes F0..F15 in CARDAMOM order (gC m-2 d-1; F1, F8, F15 are modifiers).
  subroutine dalec_day(pools, gpp, temprate, resprate, phi_f, phi_o, theta_min, f_auto, &
                       f_fol, f_root, theta_wood, theta_root, theta_lit, theta_som, f_lab, flux)
    real(wp), intent(in) :: gpp, temprate, resprate, phi_f, phi_o
    real(wp), intent(in) :: theta_min, f_auto, f_fol, f_root, theta_wood, theta_root, &
                            theta_lit, theta_som, f_lab
    real(wp), intent(inout) :: pools(npool)
    real(wp), intent(out) :: flux(nflux)
    flux(1) = gpp
    flux(2) = temprate
    flux(3) = f_auto * gpp
    flux(4) = (gpp - flux(3)) * f_fol
    flux(5) = (gpp - flux(3) - flux(4)) * f_lab
    flux(6) = (gpp - flux(3) - flux(4) - flux(5)) * f_root
    flux(7) = gpp - flux(3) - flux(4) - flux(5) - flux(6)
    flux(9) = phi_f
    flux(16) = phi_o
    flux(8) = pools(1) * phi_o
    flux(10) = pools(2) * phi_f
    flux(11) = theta_wood * pools(4)
    flux(12) = theta_root * pools(3)
    flux(13) = theta_lit * pools(5) * resprate
    flux(14) = theta_som * pools(6) * resprate
    flux(15) = theta_min * pools(5) * temprate
    pools(1) = pools(1) + flux(5) - flux(8)
    pools(2) = pools(2) + flux(4) - flux(10) + flux(8)
    pools(3) = pools(3) + flux(6) - flux(12)
    pools(4) = pools(4) + flux(7) - flux(11)
    pools(5) = pools(5) + flux(10) + flux(12) - flux(13) - flux(15)
    pools(6) = pools(6) + flux(15) - flux(14) + flux(11)
  end subroutine dalec_day

end module dnb_carbon
