"""Which failures mean "a dependency is away, retry later" rather than a bug:
an entrypoint that meets one answers `SERVICE_UNAVAILABLE` (503 at the
gateway, with Retry-After), never an unexpected error (500)."""
import psycopg2
import psycopg2.errors
from sqlalchemy.exc import DBAPIError

# The server went away or is (re)starting. Not its subclasses in general:
# a deadlock or a statement timeout is also an OperationalError in psycopg2.
_DATABASE_AWAY = (psycopg2.InterfaceError, psycopg2.errors.AdminShutdown, psycopg2.errors.CrashShutdown,
                  psycopg2.errors.CannotConnectNow)


def database_unavailable(exc: BaseException) -> bool:
    """The database connection was lost or could not be made (a PostgreSQL
    restart, a network cut). Lost during a commit, the commit's outcome is
    unknown, as with any dropped connection."""
    if not isinstance(exc, DBAPIError):
        return False
    return (exc.connection_invalidated or type(exc.orig) is psycopg2.OperationalError
            or isinstance(exc.orig, _DATABASE_AWAY))
