import Reference
import Harness
