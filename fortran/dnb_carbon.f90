! DALEC2 carbon pools for one day (Bloom & Williams 2015; CARDAMOM DALEC_CDEA flux layout;
! docs/science/dalec.md). GPP comes from BETHY photosynthesis.
! Deviations from DALEC2 (each documented in docs/science/deviations.md):
! - temperature: the rate modifier is the daily mean of the hourly exp(p10 T), not
!   exp(p10 T_daily_mean), because the model runs hourly and its hourly Rh must add up to
!   the daily flux; by Jensen's inequality the mean of the exponential is larger, by about
!   (p10 A)**2 / 4 for a diurnal amplitude A (3 % for p10 = 0.05, A = 7 K).
! - moisture: DALEC2 has no soil-moisture response. D&B's Rh would otherwise run at full
!   speed in a dry Mediterranean summer; the respired fluxes F12 (litter) and F13 (SOM) are
!   scaled by a linear moisture modifier (rh_wmin at wilting point, 1 at field capacity;
!   hourly, averaged like the temperature factor). The litter-to-SOM transfer F14 keeps
!   DALEC2's temperature-only form: decomposition that is not respired is a transfer
!   between two soil pools, not a gas flux, and leaving it unchanged keeps the SOM input
!   of DALEC2 (a tccas choice, no published source).
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
