! Real kind used throughout the D&B core.
module dnb_kinds
  implicit none
  private
  integer, parameter, public :: wp = selected_real_kind(15, 307)
end module dnb_kinds
