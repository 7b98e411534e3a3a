// Drives the gateway with the PostgreSQL JDBC driver (Debian's libpostgresql-jdbc-java): prints JSON.
// Usage: java -cp /usr/share/java/postgresql.jar:. JdbcClient <jdbc-url> <user> <token>
import java.sql.*;

public class JdbcClient {
  public static void main(String[] args) throws Exception {
    StringBuilder out = new StringBuilder("{");
    try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
      // prepareThreshold=1 in the URL: server-side named statements from the first execution.
      try (PreparedStatement ps = c.prepareStatement("SELECT name, ssn FROM patients WHERE id = ?")) {
        for (int id = 1; id <= 3; id++) {
          ps.setInt(1, id);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            out.append(id == 1 ? "" : ",").append("\"row").append(id).append("\":[\"").append(rs.getString(1)).append("\",\"").append(rs.getString(2)).append("\"]");
          }
        }
      }
      try (Statement st = c.createStatement()) {
        st.executeQuery("SELECT pg_read_file('/etc/passwd')");
        out.append(",\"denied\":null");
      } catch (SQLException e) {
        out.append(",\"denied\":{\"code\":\"").append(e.getSQLState()).append("\"}");
      }
      try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery("SELECT count(*) FROM visits")) {
        rs.next();
        out.append(",\"count\":").append(rs.getInt(1));
      }
    }
    System.out.println(out.append("}"));
  }
}
