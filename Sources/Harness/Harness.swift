import Reference
import Wire
