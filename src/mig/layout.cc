#include "mig/layout.h"
