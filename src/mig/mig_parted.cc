#include "mig/mig_parted.h"
