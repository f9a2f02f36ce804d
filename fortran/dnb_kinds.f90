! Real kind used throughout the D&B core.
module dnb_kinds
  implicit none
  private
  integer, parameter, public :: wp = kind(1.0d0)
end module dnb_kinds
