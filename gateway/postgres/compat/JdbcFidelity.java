// What a JDBC client sees of the session, printed as JSON so the same run directly against PostgreSQL and
// through Verdict can be compared: Connection.isValid() (an empty statement), empty and comment-only
// statements in both protocols, and the settings the URL asked for at startup.
// Usage: java -cp /usr/share/java/postgresql.jar:. JdbcFidelity <jdbc-url> <user> <password>
import java.sql.*;

public class JdbcFidelity {
  public static void main(String[] args) throws Exception {
    StringBuilder out = new StringBuilder("{");
    try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
      out.append("\"valid\":").append(c.isValid(5));
      try (PreparedStatement ps = c.prepareStatement("")) {
        out.append(",\"emptyPrepared\":").append(ps.execute()).append(",\"emptyPreparedCount\":").append(ps.getUpdateCount());
      }
      try (Statement st = c.createStatement()) {
        out.append(",\"commentOnly\":").append(st.execute("-- only a comment")).append(",\"commentOnlyCount\":").append(st.getUpdateCount());
      }
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(
          "SELECT current_setting('application_name'), current_setting('statement_timeout'), current_setting('TimeZone'), current_setting('extra_float_digits'), current_setting('DateStyle')")) {
        rs.next();
        out.append(",\"settings\":[");
        for (int i = 1; i <= 5; i++) out.append(i == 1 ? "" : ",").append('"').append(rs.getString(i)).append('"');
        out.append(']');
      }
      out.append(",\"validAfter\":").append(c.isValid(5));
    }
    System.out.println(out.append("}"));
  }
}
